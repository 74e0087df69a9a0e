"""The operator console in headless Chromium against a real service.

The ticketing service runs under uvicorn on a free port against the session's database
and broker (demo seed, MQTT intake on). A degrading pump's telemetry is stored in the
hypertable and its anomaly event goes through the real MQTT intake while a dispatcher
watches the board: the predictive ticket must appear without a reload. The assigned
engineer opens it, sees the evidence chart drawn, accepts and resolves it; a customer
then follows the job by its tracking code. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forewarn import db as fdb
from forewarn import mqtt as fmqtt
from forewarn.settings import Settings
from forewarn.testing import serve_asgi
from ticketing import demo
from ticketing.app import create_app
from ticketing.auth import create_token

sys.path.insert(0, str(Path(__file__).parents[1] / "integration" / "console"))
from browser_support import SHOTS, WAIT_MS
from console_helpers import anomaly_event, seed_asset

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def service(settings: Settings) -> Iterator[tuple[str, Any]]:
    app = create_app(settings, background=True, mqtt=True)

    def ready() -> bool:
        event = getattr(app.state, "mqtt_ready", None)
        return event is not None and event.is_set()

    with serve_asgi(app, ready) as base:
        yield base, app


def log_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=token]", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/console/board")


def test_predictive_ticket_from_anomaly_to_resolution_in_a_browser(
    service: tuple[str, Any], browser: Any, settings: Settings, dsn: str, db: Any
) -> None:
    base, _app = service
    SHOTS.mkdir(parents=True, exist_ok=True)
    tokens = {name: tok for name, _role, tok in demo.seed(dsn)}
    asset, at = seed_asset(db, site="north", lat=53.52, lon=9.95)  # near the demo's Ada
    for site, lat, lon in (
        ("north", 53.60, 10.10),
        ("north", 52.40, 9.70),
        ("south", 48.20, 11.40),
        ("south", 48.05, 11.70),
    ):  # healthy neighbours, so the fleet and map show more than one asset
        seed_asset(db, site=site, lat=lat, lon=lon, degrade=0.0)

    dispatcher = browser.new_context(viewport={"width": 1400, "height": 900})
    board = dispatcher.new_page()
    log_in(board, base, tokens["demo-dispatcher"])
    assert board.locator(f'[data-asset="{asset}"]').count() == 0

    pub = fmqtt.paho_client(settings.mqtt, fmqtt.client_id(settings.mqtt, "console-e2e"))
    fmqtt.connect_paho(pub, settings.mqtt)
    try:
        ev = anomaly_event(asset, at, site="north", severity="warning", score=0.87)
        pub.publish(f"forewarn/v1/north/{asset}/anomaly", json.dumps(ev), qos=1).wait_for_publish(5)
    finally:
        pub.disconnect()

    card = board.locator(f'a.ticket-card[data-asset="{asset}"]')
    card.wait_for(timeout=WAIT_MS)  # arrives by polling, no reload
    ticket_id = int(card.get_attribute("data-ticket"))
    assert "P" in card.inner_text() and card.locator(".sla").count() == 1
    board.screenshot(path=str(SHOTS / "console-board.png"), full_page=True)

    row = db.execute(
        "select engineer_id, tracking_code from tickets where id = %s", (ticket_id,)
    ).fetchone()
    engineer_id, code = row
    if engineer_id is None:  # nobody fit the routing rules: the dispatcher assigns Ada
        ada = db.execute("select id from engineers where name = 'Ada Pumps'").fetchone()[0]
        r = httpx.post(
            f"{base}/tickets/{ticket_id}/assign",
            json={"engineer_id": ada, "reason": "e2e"},
            headers={"Authorization": f"Bearer {tokens['demo-dispatcher']}"},
        )
        assert r.status_code == 200, r.text
        engineer_id = ada
    with fdb.connect(dsn, autocommit=True) as conn:
        eng_token = create_token(conn, f"e2e-eng-{ticket_id}", "engineer", engineer_id)[1]

    engineer = browser.new_context(viewport={"width": 1280, "height": 900})
    page = engineer.new_page()
    log_in(page, base, eng_token)
    page.click(f'a.ticket-card[data-ticket="{ticket_id}"]')
    page.wait_for_selector("#evidence-chart")
    plotted = page.evaluate(
        """() => Array.from(document.querySelectorAll('#evidence-chart g.series')).map(g => {
            const line = g.querySelector('polyline');
            const box = line.getBBox();
            return {metric: g.dataset.metric, contrib: g.classList.contains('contrib'),
                    points: line.points.numberOfItems, width: box.width, height: box.height};
        })"""
    )
    by_metric = {p["metric"]: p for p in plotted}
    assert by_metric["vibration_rms"]["contrib"] and not by_metric["flow_m3h"]["contrib"]
    assert all(p["points"] > 100 and p["width"] > 300 for p in plotted), plotted
    assert by_metric["vibration_rms"]["height"] > 20  # the rise is drawn, not a flat line
    page.screenshot(path=str(SHOTS / "console-ticket.png"), full_page=True)

    watch = dispatcher.new_page()  # the dispatcher keeps the ticket open meanwhile
    watch.goto(f"{base}/console/tickets/{ticket_id}")
    assert watch.locator("#ticket-state").get_attribute("data-state") == "assigned"

    for to in ("accepted", "en_route", "on_site"):
        page.click(f'#actions button[data-to="{to}"]')
        page.wait_for_selector(f'#ticket-state[data-state="{to}"]')
    page.click('#resolve-form button[data-to="resolved"]')  # no code chosen: browser refuses
    assert page.locator("#ticket-state").get_attribute("data-state") == "on_site"
    page.select_option("#resolve-form select[name=resolution_code]", "confirmed")
    page.fill("#resolve-form input[name=note]", "bearing replaced")
    page.click('#resolve-form button[data-to="resolved"]')
    page.wait_for_selector('#ticket-state[data-state="resolved"]')
    assert "state resolved" in page.locator("#timeline").inner_text()
    watch.wait_for_selector('#ticket-state[data-state="resolved"]', timeout=WAIT_MS)  # polled

    board.goto(f"{base}/console/fleet")  # all sites
    assert board.locator(f'tr[data-asset="{asset}"] svg.spark polyline').count() == 1
    board.screenshot(path=str(SHOTS / "console-fleet.png"), full_page=True)
    board.goto(f"{base}/console/map")
    assert board.locator(f'#site-map circle[data-asset="{asset}"]').count() == 1
    assert board.locator("#site-map g.engineer").count() >= 5
    board.screenshot(path=str(SHOTS / "console-map.png"))
    board.goto(f"{base}/console/kpis")
    board.screenshot(path=str(SHOTS / "console-kpis.png"), full_page=True)

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    mobile = phone.new_page()
    log_in(mobile, base, tokens["demo-dispatcher"])
    overflow = mobile.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"board scrolls sideways on a phone by {overflow}px"
    mobile.screenshot(path=str(SHOTS / "console-phone.png"))

    customer = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    track = customer.new_page()
    track.goto(f"{base}/console/track")
    track.fill("input[name=code]", code)
    track.click("button[type=submit]")
    track.wait_for_selector("#track-status")
    assert track.locator("#track-status").inner_text() == "resolved"
    text = track.inner_text("body")
    assert asset not in text and "bearing" not in text and "Ada" not in text
    track.screenshot(path=str(SHOTS / "console-track.png"), full_page=True)
    for ctx in (dispatcher, engineer, phone, customer):
        ctx.close()
