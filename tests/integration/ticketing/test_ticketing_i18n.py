"""The console in Chinese with local times: the browser's Accept-Language picks the
language unless the user chose one (cookie); times are stored UTC and shown in the site's
time zone. Bad input: unknown language codes, an open redirect attempt, junk headers."""

from __future__ import annotations

import re

from ticketing_helpers import auth, uid

from ticketing.i18n import LocaleSettings

ZH = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.5"}


def test_console_renders_in_chinese_with_the_sites_local_time(
    app, client, tokens, make_asset, make_engineer, clock
) -> None:
    site = f"sh-{uid()}"
    app.state.locale = LocaleSettings(site_timezones={site: "Asia/Shanghai"})
    cls = f"cnc_{uid()}"
    make_engineer("王工", asset_classes=[cls])
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={
            "asset": make_asset(cls, site=site),
            "title": "主轴异响",
            "priority": "P1",
            "contact": "李经理 13800000000",
        },
    ).json()["ticket"]
    assert t["response_due"].startswith("2026-01-05T11:00")  # stored UTC
    cookie = {"cookie": f"fw_console={tokens['dispatcher']}"}
    page = client.get(f"/console/tickets/{t['id']}", headers=cookie | ZH).text
    assert '<html lang="zh-CN">' in page
    assert "<h2>状态</h2>" in page and "派单依据" in page and "看板" in page
    assert "已派单" in page  # the state, translated
    # 11:00 UTC is 19:00 in Shanghai.
    due = re.search(r'id="due-local">([^<]+)<', page).group(1)
    assert due == "2026-01-05 19:00 CST"
    assert 'id="ticket-contact">李经理 13800000000<' in page  # the contact, shown at last

    english = client.get(f"/console/tickets/{t['id']}", headers=cookie).text
    assert '<html lang="en">' in english and "<h2>Status</h2>" in english
    board = client.get("/console/board", headers=cookie | ZH).text
    assert ("<h1>工单" in board and "最近完成" in board) or "无" in board

    # The user's choice (cookie) beats the browser's default.
    r = client.get("/lang/en?next=/console/board", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/board"
    assert "fw_lang=en" in r.headers["set-cookie"]
    chosen = client.get(
        f"/console/tickets/{t['id']}",
        headers={"cookie": f"fw_console={tokens['dispatcher']}; fw_lang=en"} | ZH,
    ).text
    assert "<h2>Status</h2>" in chosen


def test_language_switch_refuses_unknown_codes_and_foreign_redirects(client) -> None:
    r = client.get("/lang/xx?next=/console/board", follow_redirects=False)
    assert r.status_code == 303 and "set-cookie" not in r.headers
    r = client.get("/lang/zh_CN?next=//evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/"
    r = client.get("/lang/zh_CN?next=https://evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/"
    assert client.cookies.get("fw_lang") == "zh_CN"  # the valid switch above was remembered
    client.cookies.clear()
    page = client.get("/console/login", headers={"accept-language": ";;;q=x,,"}).text
    assert '<html lang="en">' in page
    page = client.get("/console/login", headers={"cookie": "fw_lang=../../etc"} | ZH).text
    assert '<html lang="zh-CN">' in page and "登录" in page
