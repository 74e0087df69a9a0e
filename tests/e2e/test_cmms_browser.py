"""Maintenance work in headless Chromium against a real service (uvicorn, the session's
database): a dispatcher registers an asset through the register's form and finds it on the
map; on a ticket for it with a job plan, the checklist (a pass/fail step and a reading) is
completed in the browser; resolving the ticket issues the reserved part and the stock
shown drops by one. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from browser_support import SHOTS

from forewarn import db as fdb
from forewarn.settings import Settings
from forewarn.testing import serve_asgi
from ticketing.app import create_app
from ticketing.auth import create_token

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def service(settings: Settings) -> Iterator[str]:
    with serve_asgi(create_app(settings, background=False, mqtt=False)) as base:
        yield base


def test_register_map_checklist_and_stock_in_a_browser(
    service: str, browser: Any, dsn: str
) -> None:
    base = service
    SHOTS.mkdir(parents=True, exist_ok=True)
    with fdb.connect(dsn, autocommit=True) as conn:
        token = create_token(conn, "cmms-e2e", "dispatcher")[1]
    h = {"Authorization": f"Bearer {token}"}
    name = f"e2e-pump-{secrets.token_hex(3)}"

    page = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    page.goto(f"{base}/console/login")
    page.fill("input[name=token]", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/console/board")

    # 1. Register an asset through the form.
    page.click("nav >> text=Assets")
    page.wait_for_url(f"{base}/console/assets")
    form = page.locator("#asset-form")
    form.locator("input[name=asset]").fill(name)
    form.locator("input[name=site]").fill("north")
    form.locator("input[name=asset_class]").fill("centrifugal_pump")
    form.locator("select[name=criticality]").select_option("A")
    form.locator("input[name=lat]").fill("53.561")
    form.locator("input[name=lon]").fill("10.012")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/console/assets/{name}?msg=*")
    assert name in page.locator("#asset-title").inner_text()
    page.screenshot(path=str(SHOTS / "cmms-asset.png"), full_page=True)

    # 2. It is on the map.
    page.goto(f"{base}/console/map")
    assert page.locator(f'circle.asset[data-asset="{name}"]').count() == 1
    page.screenshot(path=str(SHOTS / "cmms-map.png"), full_page=True)

    # 3. A ticket for it with a job plan (set up over the API), worked in the browser.
    with httpx.Client(base_url=base, headers=h, timeout=30) as api:
        part = api.post("/parts", json={"sku": f"e2e-{name}", "name": "bearing"}).json()["id"]
        assert (
            api.put(
                f"/parts/{part}/stock/north-store", json={"on_hand": 3, "site": "north"}
            ).status_code
            == 200
        )
        plan = api.post(
            "/job-plans",
            json={
                "name": "replace bearing",
                "est_minutes": 60,
                "steps": [{"text": "lock out"}, {"text": "vibration after", "kind": "reading"}],
                "parts": [{"part_id": part, "qty": 1}],
            },
        ).json()["id"]
        eng = api.post(
            "/engineers",
            json={
                "name": f"e2e-{name}",
                "shifts": [{"days": list(range(7)), "start": "00:00", "end": "24:00"}],
            },
        ).json()["id"]
        tid = api.post("/tickets", json={"asset": name, "title": "bearing noise"}).json()["ticket"][
            "id"
        ]
        assert api.post(f"/tickets/{tid}/job-plan", json={"job_plan_id": plan}).status_code == 200
        assert api.post(f"/tickets/{tid}/assign", json={"engineer_id": eng}).status_code == 200
        for to in ("accepted", "en_route", "on_site"):
            assert api.post(f"/tickets/{tid}/transitions", json={"to": to}).status_code == 200

    page.goto(f"{base}/console/tickets/{tid}")
    page.click("#work-link")
    page.wait_for_url(f"{base}/console/tickets/{tid}/work")
    stock = page.locator(f'tr[data-part="{part}"] .stock span')
    assert stock.get_attribute("data-on-hand") == "3"
    assert page.locator(f'tr[data-part="{part}"] .state').inner_text() == "reserved"
    page.click('tr[data-step="1"] button[value=pass]')
    page.wait_for_selector('tr[data-step="1"] .result strong')
    step2 = page.locator('tr[data-step="2"]')
    step2.locator("input[name=reading]").fill("2.4")
    step2.locator("button[value=pass]").click()
    page.wait_for_selector('tr[data-step="2"] .result strong')
    assert "(2.4)" in page.locator('tr[data-step="2"] .result').inner_text()
    page.screenshot(path=str(SHOTS / "cmms-checklist.png"), full_page=True)

    # 4. Resolve on the ticket page: the part is issued, the stock shown drops to 2.
    page.goto(f"{base}/console/tickets/{tid}")
    page.select_option("#resolve-form select[name=resolution_code]", "fixed")
    page.click('#resolve-form button[data-to="resolved"]')
    page.wait_for_selector('#ticket-state[data-state="resolved"]')
    page.goto(f"{base}/console/tickets/{tid}/work")
    assert page.locator(f'tr[data-part="{part}"] .state').inner_text() == "issued"
    assert page.locator(f'tr[data-part="{part}"] .stock span').get_attribute("data-on-hand") == "2"
    page.screenshot(path=str(SHOTS / "cmms-stock.png"), full_page=True)
