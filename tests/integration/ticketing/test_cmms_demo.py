"""The demo's maintenance seed, in a database of its own (its job plans for the common
fault modes would otherwise attach to other tests' tickets): a complete register with
coordinates, so routing explanations carry distances; job plans with stocked parts; PM
plans that come due alongside the predictive tickets."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ticketing_helpers import anomaly, auth

from forewarn import db as fdb
from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.clock import ManualClock
from ticketing.demo import seed


@pytest.fixture
def demo(
    admin_dsn: str, settings: Settings
) -> Iterator[tuple[Any, dict[str, str], Any, ManualClock]]:
    name = f"fw_demo_{os.getpid()}_{secrets.token_hex(3)}"
    url = fdb.create_database(admin_dsn, name)
    try:
        fdb.migrate(url)
        seed(url)
        tokens = {role: tok for _n, role, tok in seed(url)}  # repeatable; fresh tokens
        clock = ManualClock(datetime.now(UTC))
        mine = settings.model_copy(
            update={"database": settings.database.model_copy(update={"dsn": url})}
        )
        with (
            TestClient(create_app(mine, clock=clock, background=False, mqtt=False)) as c,
            fdb.connect(url, autocommit=True) as conn,
        ):
            yield c, tokens, conn, clock
    finally:
        fdb.drop_database(admin_dsn, name)


def test_demo_register_jobs_and_plans(demo) -> None:
    client, tokens, db, _clock = demo
    machines = db.execute(
        "select count(*), count(lat), count(*) filter (where status = 'active')"
        " from assets where level = 'machine'"
    ).fetchone()
    assert machines == (36, 36, 36)
    assert db.execute("select count(*) from pm_plans").fetchone() == (7,)  # seeded once
    assert db.execute("select count(*) from job_plans").fetchone() == (4,)
    # A bearing-wear finding on the demo pump: routed with distances, job plan attached,
    # parts reserved from the north store.
    r = client.post(
        "/anomalies",
        json=anomaly("north-P003", site="north", asset_class="centrifugal_pump"),
        headers=auth(tokens["integration"]),
    )
    assert r.status_code == 201, r.text
    tid = r.json()["ticket_id"]
    d = auth(tokens["dispatcher"])
    detail = client.get(f"/tickets/{tid}", headers=d).json()
    eligible = [c for c in detail["routing"][0]["candidates"] if c.get("excluded") is None]
    assert eligible and all(c["distance_km"] is not None for c in eligible)
    assert "km from home" in detail["routing"][0]["explanation"]
    assert detail["priority"] == "P1"  # warning, raised by criticality A
    work = client.get(f"/tickets/{tid}/work", headers=d).json()
    assert work["job_plan"]["fault_mode"] == "bearing_wear"
    assert [(p["store"], p["state"]) for p in work["parts"]] == [("north-store", "reserved")]
    # PM: the first calendar plan is due now (lead 7 days); the forecast lists the rest.
    client.app.state.maintenance_scan()
    pm = db.execute("select count(*) from tickets where source = 'scheduled'").fetchone()
    assert pm[0] >= 1
    fc = client.get("/maintenance/forecast", headers=d).json()
    assert {f["asset"] for f in fc} >= {"north-P001", "north-P002", "south-P001"}
