"""The technician's phone in headless Chromium: the console installs as a PWA (manifest,
service worker), the test cuts the network, the engineer accepts the job and takes a photo
offline (kept in IndexedDB), and after reconnecting both reach the server: the photo is on
the ticket. Also the customer's QR form and the Chinese console, with screenshots for the
docs (written to artifacts/screenshots; the copies in docs/img are refreshed by hand)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from forewarn import db as fdb
from forewarn.settings import Settings
from forewarn.testing import serve_asgi
from ticketing import customer
from ticketing.app import create_app
from ticketing.attachments import AttachmentSettings
from ticketing.auth import create_token
from ticketing.i18n import LocaleSettings

sys.path.insert(0, str(Path(__file__).parent))
from browser_support import SHOTS, WAIT_MS

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
IMG = SHOTS  # copied into docs/img by hand when the pages change; a test run leaves git clean
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]


@pytest.fixture
def service(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    app = create_app(settings, background=False, mqtt=False)
    app.state.attachments = AttachmentSettings(directory=str(tmp_path / "photos"))
    with serve_asgi(app) as base:
        yield base, app


def _seed(base: str, dsn: str, site: str) -> dict[str, Any]:
    """An asset, an engineer with a token, a dispatcher, and a ticket assigned to the engineer."""
    import secrets

    tag = secrets.token_hex(3)
    cls = f"chiller_{tag}"
    with fdb.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into assets (asset, site, asset_class, lat, lon) values (%s, %s, %s, 31.2, 121.5)",
            (f"chiller-{tag}", site, cls),
        )
        admin = create_token(conn, f"phone-admin-{tag}", "admin")[1]
    h = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, headers=h) as c:
        eng = c.post(
            "/engineers", json={"name": "王师傅", "asset_classes": [cls], "shifts": ALL_DAY}
        ).json()["id"]
        t = c.post(
            "/tickets",
            json={
                "asset": f"chiller-{tag}",
                "title": "冷水机组高压报警",
                "priority": "P1",
                "description": "Compressor trips on high pressure since 06:00.",
                "contact": "李经理 138 0000 0000",
            },
        ).json()["ticket"]
    with fdb.connect(dsn, autocommit=True) as conn:
        eng_token = create_token(conn, f"phone-eng-{tag}", "engineer", eng)[1]
        disp = create_token(conn, f"phone-disp-{tag}", "dispatcher")[1]
    assert t["engineer_id"] == eng
    return {"asset": f"chiller-{tag}", "ticket": t, "eng": eng_token, "disp": disp, "admin": h}


def _login(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=token]", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/console/board", timeout=WAIT_MS)


def _jpeg() -> bytes:
    out = io.BytesIO()
    im = Image.new("RGB", (640, 480), (90, 120, 160))
    for x in range(0, 640, 40):  # something to look at in the thumbnail
        im.paste((230, 200, 60), (x, 200, x + 20, 280))
    im.save(out, "JPEG")
    return out.getvalue()


def test_photo_taken_offline_appears_on_the_ticket_after_reconnect(service, browser, dsn) -> None:
    base, _app = service
    s = _seed(base, dsn, "plant-sh")
    tid = s["ticket"]["id"]
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    _login(page, base, s["eng"])
    page.goto(f"{base}/console/tickets/{tid}")
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
    )
    assert manifest["display"] == "standalone" and manifest["scope"] == "/console/"

    ctx.set_offline(True)  # the cellar without signal
    page.click("#actions button[data-to=accepted]")
    page.set_input_files(
        "#photo-form input[type=file]",
        files=[{"name": "valve.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}],
    )
    page.fill("#photo-form input[name=caption]", "pressure switch corroded")
    page.click("#photo-form button[type=submit]")
    page.wait_for_selector("#offline-banner:has-text('2 change(s) waiting')", timeout=WAIT_MS)
    with httpx.Client(base_url=base, headers=s["admin"]) as c:
        before = c.get(f"/tickets/{tid}").json()
    assert before["state"] == "assigned" and before["attachments"] == []  # nothing sent yet
    IMG.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(IMG / "phone-offline.png"), full_page=False)

    ctx.set_offline(False)
    page.wait_for_selector("#photos img", timeout=WAIT_MS)  # synced, and the page reloaded
    with httpx.Client(base_url=base, headers=s["admin"]) as c:
        after = c.get(f"/tickets/{tid}").json()
        assert after["state"] == "accepted" and after["acknowledged_at"] is not None
        assert [a["filename"] for a in after["attachments"]] == ["valve.jpg"]
        photo = c.get(after["attachments"][0]["url"])
        assert photo.status_code == 200 and photo.content == _jpeg()
    assert (
        page.evaluate(
            "new Promise(r => { const q = indexedDB.open('forewarn-offline', 1);"
            " q.onsuccess = () => { const t = q.result.transaction('queue').objectStore('queue')"
            ".count(); t.onsuccess = () => r(t.result); }; })"
        )
        == 0
    )
    page.screenshot(path=str(IMG / "phone-ticket.png"), full_page=True)
    ctx.close()


def test_customer_form_and_chinese_console_screenshots(service, browser, dsn) -> None:
    base, app = service
    app.state.locale = LocaleSettings(site_timezones={"plant-sh": "Asia/Shanghai"})
    s = _seed(base, dsn, "plant-sh")
    key = app.state.store.run(lambda tx: customer.report_key(tx, s["asset"]))

    ctx = browser.new_context(locale="zh-CN", **PHONE)
    page = ctx.new_page()
    page.goto(f"{base}/customer/report/{s['asset']}?k={key}")
    assert page.locator("#report-asset").inner_text() == s["asset"]
    assert page.locator("h1").inner_text() == "故障报修"
    page.fill("input[name=title]", "机组噪音很大")
    page.fill("textarea[name=description]", "昨晚开始有异响。")
    page.fill("input[name=contact]", "张先生 139 0000 0000")
    page.screenshot(path=str(IMG / "customer-form.png"), full_page=True)
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#tracking-code", timeout=WAIT_MS)
    page.screenshot(path=str(IMG / "customer-track.png"), full_page=True)
    ctx.close()

    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    _login(page, base, s["disp"])
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "工单" in page.locator("h1").inner_text()
    page.screenshot(path=str(IMG / "console-zh-board.png"), full_page=False)
    page.goto(f"{base}/console/tickets/{s['ticket']['id']}")
    assert "CST" in page.locator("#due-local").inner_text()  # Shanghai time
    page.screenshot(path=str(IMG / "console-zh-ticket.png"), full_page=False)
    ctx.close()


def test_checklist_resolution_and_signature_captured_offline_sync_after_reconnect(
    service, browser, dsn
) -> None:
    """On site without signal: the engineer passes a checklist step (work page from the
    service worker's cache), ticks a sub-task, resolves the job and the customer signs on
    the phone's canvas; all four wait in IndexedDB and reach the server in order after
    reconnect (resolution before the sign-off, which needs it)."""
    base, _app = service
    s = _seed(base, dsn, "plant-sh")
    tid = s["ticket"]["id"]
    e = {"Authorization": f"Bearer {s['eng']}"}
    with httpx.Client(base_url=base, headers=e) as c:
        for to in ("accepted", "en_route", "on_site"):
            assert c.post(f"/tickets/{tid}/transitions", json={"to": to}).status_code == 200
        sub = c.post(f"/tickets/{tid}/subtasks", json={"title": "Check the pressure switch"})
        assert sub.status_code == 201
    with httpx.Client(base_url=base, headers=s["admin"]) as c:
        plan = c.post(
            "/job-plans",
            json={
                "name": f"HP trip {tid}",
                "est_minutes": 30,
                "steps": [{"text": "Test the HP switch"}],
            },
        )
        assert plan.status_code == 201, plan.text
        attach = c.post(f"/tickets/{tid}/job-plan", json={"job_plan_id": plan.json()["id"]})
        assert attach.status_code == 200, attach.text
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    _login(page, base, s["eng"])
    page.goto(f"{base}/console/tickets/{tid}")
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")

    page.goto(f"{base}/console/tickets/{tid}/work")  # cached by the service worker
    page.goto(f"{base}/console/tickets/{tid}")
    ctx.set_offline(True)
    page.goto(f"{base}/console/tickets/{tid}/work")  # the checklist, from the cache
    page.click("tr[data-step='1'] button[value=pass]")
    page.wait_for_selector("#offline-banner:has-text('1 change(s) waiting')", timeout=WAIT_MS)
    page.goto(f"{base}/console/tickets/{tid}")
    page.click(f"li[data-subtask='{sub.json()['id']}'] button")
    page.select_option("#resolve-form select[name=resolution_code]", "fixed")
    page.click("#resolve-form button[type=submit]")
    page.fill("#signoff-form input[name=name]", "李经理")
    page.check("#signoff-form input[name=satisfied]")
    box = page.locator("#signature-pad").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 20, box["y"] + 100)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(box["x"] + 20 + i * 25, box["y"] + 100 - (i % 3) * 30)
    page.mouse.up()
    signature = page.locator("#signature-data").input_value()
    assert signature.startswith("data:image/png;base64,")
    page.click("#signoff-form button[type=submit]")
    page.wait_for_selector("#offline-banner:has-text('4 change(s) waiting')", timeout=WAIT_MS)
    with httpx.Client(base_url=base, headers=s["admin"]) as c:
        assert c.get(f"/tickets/{tid}").json()["state"] == "on_site"  # nothing sent yet
        assert c.get(f"/tickets/{tid}/signoff").status_code == 404

    ctx.set_offline(False)
    page.wait_for_selector("#signoff-signature", timeout=WAIT_MS)  # synced and reloaded
    with httpx.Client(base_url=base, headers=s["admin"]) as c:
        t = c.get(f"/tickets/{tid}").json()
        assert t["state"] == "resolved" and t["subtasks"][0]["done"] is True
        steps = c.get(f"/tickets/{tid}/work").json()["steps"]
        assert [x["result"] for x in steps] == ["pass"]  # the pressed button's value kept
        so = c.get(f"/tickets/{tid}/signoff").json()
        assert so["name"] == "李经理" and so["satisfied"] is True and so["signed"] is True
        png = c.get(f"/tickets/{tid}/signoff/signature.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    page.screenshot(path=str(IMG / "phone-signoff.png"), full_page=True)
    ctx.close()
