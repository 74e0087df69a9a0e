"""The customer's side against the real app and database: the QR label's link opens a
no-login report form with the asset filled in, the report opens a customer ticket, the
customer follows it, replies (the engineer is notified) and rates the job, which feeds the
CSAT figures. Bad input: wrong keys, oversized and malformed forms, floods, early ratings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from people_helpers import Receiver
from ticketing_helpers import auth, uid

ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]


def _report_link(client, tokens, asset: str) -> str:
    """What the printed label's QR code holds (read from the label page)."""
    page = client.get(
        f"/console/assets/{asset}/label", headers={"cookie": f"fw_console={tokens['dispatcher']}"}
    )
    assert page.status_code == 200 and 'id="asset-qr"' in page.text and "<svg" in page.text
    url = re.search(r'<p class="muted small">([^<]+)</p>', page.text).group(1)
    parts = urlsplit(url.replace("&amp;", "&"))
    return f"{parts.path}?{parts.query}"


def test_customer_reports_from_qr_follows_replies_and_rates(
    app, client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    receiver = Receiver()
    try:
        cls = f"oven_{uid()}"
        asset = make_asset(cls)
        eng = make_engineer("Zhou", asset_classes=[cls], shifts=ALL_DAY)
        client.post(
            "/notifications/channels",
            headers=auth(tokens["dispatcher"]),
            json={"engineer_id": eng, "url": receiver.url, "events": ["customer_reply"]},
        )
        svg = client.get(f"/assets/{asset}/qr.svg", headers=auth(tokens["dispatcher"]))
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        link = _report_link(client, tokens, asset)
        assert link.startswith(f"/customer/report/{asset}?k=")

        form = client.get(link)  # no login
        assert form.status_code == 200 and f'id="report-asset">{asset}<' in form.text
        key = link.split("k=")[1]
        r = client.post(
            f"/customer/report/{asset}",
            data={
                "k": key,
                "title": "烤箱不加热",
                "description": "since morning",
                "contact": "Li 138",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        code = re.search(r"/customer/track/([A-Z2-9]{10})", r.headers["location"]).group(1)
        t = client.get(f"/tickets?asset={asset}", headers=auth(tokens["admin"])).json()[0]
        assert t["source"] == "customer" and t["tracking_code"] == code
        assert t["title"] == "烤箱不加热" and t["engineer_id"] == eng

        e = auth(engineer_token(eng))
        client.post(
            f"/tickets/{t['id']}/comments",
            headers=e,
            json={"body": "I will come at 14:00", "internal": False},
        )
        client.post(
            f"/tickets/{t['id']}/comments", headers=e, json={"body": "cheap part", "internal": True}
        )
        page = client.get(f"/customer/track/{code}").text
        assert "I will come at 14:00" in page and "cheap part" not in page
        assert 'id="rating-form"' not in page  # not resolved yet

        r = client.post(
            f"/customer/track/{code}/reply",
            data={"message": "gate code 4711"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        page = client.get(f"/customer/track/{code}").text
        assert "gate code 4711" in page
        app.state.notifier.deliver_due()
        assert any("gate code 4711" in g["message"] for g in receiver.got)

        early = client.post(f"/customer/track/{code}/rating", data={"score": "5"})
        assert early.status_code == 409 and "once it is resolved" in early.text
        for to in ("accepted", "en_route", "on_site"):
            client.post(f"/tickets/{t['id']}/transitions", headers=e, json={"to": to})
        done = client.post(
            f"/tickets/{t['id']}/transitions",
            headers=e,
            json={"to": "resolved", "resolution_code": "fixed"},
        )
        assert done.status_code == 200, done.text
        assert 'id="rating-form"' in client.get(f"/customer/track/{code}").text
        r = client.post(
            f"/customer/track/{code}/rating",
            data={"score": "4", "comment": "fast, friendly"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        page = client.get(f"/customer/track/{code}").text
        assert 'id="rating"' in page and "★★★★" in page and 'id="rating-form"' not in page
        again = client.post(f"/customer/track/{code}/rating", data={"score": "1"})
        assert again.status_code == 409  # rated once

        k = client.get("/kpis/csat", headers=auth(tokens["dispatcher"])).json()
        mine = [x for x in k["engineers"] if x["engineer_id"] == eng]
        assert mine == [{"engineer_id": eng, "name": "Zhou", "ratings": 1, "average": 4.0}]
        assert k["ratings"] >= 1
        later = client.get(
            "/kpis/csat?start=2099-01-01T00:00:00Z", headers=auth(tokens["dispatcher"])
        ).json()
        assert later["ratings"] == 0  # the date range applies
        for bad in ("0.5", "2026-13-01T00:00:00Z", "2026-01-01"):
            r = client.get(f"/kpis/csat?start={bad}", headers=auth(tokens["dispatcher"]))
            assert r.status_code == 422, bad
        assert client.get("/kpis/csat", headers=auth(engineer_token(eng))).status_code == 403
    finally:
        receiver.server.shutdown()


def test_report_form_refuses_bad_keys_big_forms_bad_fields_and_floods(
    app, client, tokens, make_asset, clock
) -> None:
    clock.set(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))  # a fresh rate-limit window
    asset = make_asset(f"mixer_{uid()}")
    key = _report_link(client, tokens, asset).split("k=")[1]
    assert client.get(f"/customer/report/{asset}").status_code == 404  # no key
    assert client.get(f"/customer/report/{asset}?k=guess").status_code == 404
    assert client.get(f"/customer/report/nope-{uid()}?k={key}").status_code == 404
    r = client.post(f"/customer/report/{asset}", data={"k": "guess", "title": "x"})
    assert r.status_code == 404
    big = client.post(f"/customer/report/{asset}", data={"k": key, "title": "x" * 30_000})
    assert big.status_code == 413 and "larger than" in big.text
    empty = client.post(f"/customer/report/{asset}", data={"k": key, "title": "  "})
    assert empty.status_code == 422 and "title" in empty.text
    nul = client.post(f"/customer/report/{asset}", data={"k": key, "title": "a\x00b"})
    assert nul.status_code == 422
    assert client.get("/customer/track/not-a-code").status_code == 422
    assert client.get("/customer/track/ABCDEFGH23").status_code == 404
    codes = []
    for i in range(5):  # reports_per_hour defaults to 5 per client address
        r = client.post(
            f"/customer/report/{asset}",
            data={"k": key, "title": f"noise {i}"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        codes.append(r.headers["location"])
    flood = client.post(f"/customer/report/{asset}", data={"k": key, "title": "again"})
    assert flood.status_code == 429 and int(flood.headers["retry-after"]) > 0
    bad_score = client.post(f"{codes[0].split('?')[0]}/rating", data={"score": "6"})
    assert bad_score.status_code == 422 and "score" in bad_score.text


@pytest.mark.parametrize("role", ["integration"])
def test_qr_code_needs_a_staff_or_engineer_token(client, tokens, make_asset, role) -> None:
    asset = make_asset("fan")
    assert client.get(f"/assets/{asset}/qr.svg").status_code == 401
    assert client.get(f"/assets/{asset}/qr.svg", headers=auth(tokens[role])).status_code == 403
    r = client.get(f"/assets/nope-{uid()}/qr.svg", headers=auth(tokens["admin"]))
    assert r.status_code == 404
