"""Labour, downtime and the maintenance KPIs against values computed by hand on seeded
data (one asset class of its own, so other tests' rows stay out); bad input refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from ticketing_helpers import MONDAY_9, auth, uid


def _iso(t: Any) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_kpis_equal_hand_computed_values(app, client, tokens, db, clock, make_engineer) -> None:
    d = auth(tokens["dispatcher"])
    cls = f"kpi_{uid()}"
    a1, a2 = f"{cls}-1", f"{cls}-2"
    for a in (a1, a2):
        r = client.post(
            "/assets", json={"asset": a, "site": "site-a", "asset_class": cls}, headers=d
        )
        assert r.status_code == 201
    start, end = MONDAY_9 - timedelta(days=10), MONDAY_9 + timedelta(hours=1)

    def down(asset: str, s: Any, hours: float, planned: bool = False) -> None:
        body = {
            "started_at": _iso(s),
            "ended_at": _iso(s + timedelta(hours=hours)),
            "planned": planned,
        }
        assert client.post(f"/assets/{asset}/downtime", json=body, headers=d).status_code == 201

    down(a1, start + timedelta(days=1), 2)
    down(a1, start + timedelta(days=5), 4)
    down(a2, start - timedelta(hours=1), 2)  # straddles the window start: 1 h inside
    down(a2, start + timedelta(days=2), 8, planned=True)  # planned: not a failure
    # Tickets: one manual, two from PM plans (one resolved late, one on time).
    t1 = client.post("/tickets", json={"asset": a1, "title": "noise"}, headers=d).json()["ticket"][
        "id"
    ]
    ids = []
    for name, s, lead in (
        ("late", MONDAY_9 - timedelta(hours=2), 0),
        ("early", MONDAY_9 + timedelta(minutes=30), 1),
    ):
        r = client.post(
            "/pm-plans",
            json={
                "name": name,
                "asset": a1,
                "every_days": 1,
                "lead_days": lead,
                "start_at": _iso(s),
            },
            headers=d,
        )
        ids.append(r.json()["id"])
    app.state.maintenance_scan()
    pm_tickets = [
        r[0]
        for r in db.execute(
            "select ticket_id from pm_occurrences where plan_id = any(%s) order by plan_id", (ids,)
        ).fetchall()
    ]
    assert len(pm_tickets) == 2
    for tid in pm_tickets:  # both done now (MONDAY_9): 'late' was due at 07:00, 'early' at 09:30
        db.execute(
            "update tickets set state = 'resolved', resolved_at = %s where id = %s", (MONDAY_9, tid)
        )
    # Labour on t1: 1.5 h at 80/h, 0.5 h at the default 60/h; parts: 2 × 12.50 issued.
    eng = make_engineer("kpi-eng")
    for h, rate in ((1.5, 80.0), (0.5, None)):
        body: dict[str, Any] = {
            "started_at": _iso(MONDAY_9),
            "ended_at": _iso(MONDAY_9 + timedelta(hours=h)),
            "engineer_id": eng,
        }
        if rate is not None:
            body["rate_per_h"] = rate
        assert client.post(f"/tickets/{t1}/time", json=body, headers=d).status_code == 201
    part = client.post(
        "/parts", json={"sku": f"k-{uid()}", "name": "belt", "unit_cost": 12.5}, headers=d
    ).json()["id"]
    client.put(f"/parts/{part}/stock/main", json={"on_hand": 10}, headers=d)
    assert (
        client.post(
            f"/tickets/{t1}/reservations", json={"part_id": part, "qty": 2}, headers=d
        ).status_code
        == 201
    )
    db.execute("update tickets set state = 'on_site' where id = %s", (t1,))
    r = client.post(
        f"/tickets/{t1}/transitions", json={"to": "resolved", "resolution_code": "fixed"}, headers=d
    )
    assert r.status_code == 200, r.text
    clock.advance(minutes=45)  # both PM occurrences are now due

    q = {"from": _iso(start), "to": _iso(end)}
    rows = client.get(
        "/maintenance/kpis", params={**q, "group_by": "asset_class"}, headers=d
    ).json()
    k = next(r for r in rows if r["group"] == cls)
    window_h = 241.0
    assert k["assets"] == 2 and k["failures"] == 3
    assert k["downtime_h"] == pytest.approx(2 + 4 + 1)
    assert k["mtbf_h"] == pytest.approx((2 * window_h - 7) / 3, abs=1e-4)
    assert k["mttr_h"] == pytest.approx((2 + 4 + 2) / 3, abs=1e-4)
    assert k["pm_due"] == 2 and k["pm_compliance"] == pytest.approx(0.5)
    assert k["tickets"] == 3 and k["planned_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert k["labour_h"] == pytest.approx(2.0)
    assert k["labour_cost"] == pytest.approx(1.5 * 80 + 0.5 * 60)
    assert k["parts_cost"] == pytest.approx(25.0)
    assert k["cost"] == pytest.approx(175.0)
    by_asset = client.get("/maintenance/kpis", params={**q, "group_by": "asset"}, headers=d).json()
    k1 = next(r for r in by_asset if r["group"] == a1)
    assert k1["failures"] == 2 and k1["mtbf_h"] == pytest.approx((window_h - 6) / 2)
    assert k1["mttr_h"] == pytest.approx(3.0)


def test_labour_and_downtime_bad_input(client, tokens, make_asset, make_engineer) -> None:
    d = auth(tokens["dispatcher"])
    asset = make_asset("pump")
    t = client.post("/tickets", json={"asset": asset, "title": "x"}, headers=d).json()["ticket"][
        "id"
    ]
    eng = make_engineer("bad-time")
    s = _iso(MONDAY_9)
    r = client.post(
        f"/tickets/{t}/time", json={"started_at": s, "ended_at": s, "engineer_id": eng}, headers=d
    )
    assert r.status_code == 422 and "ended_at" in r.json()["detail"]
    r = client.post(f"/assets/{asset}/downtime", json={"started_at": s, "ended_at": s}, headers=d)
    assert r.status_code == 422 and "ended_at" in r.json()["detail"]
    r = client.get("/maintenance/kpis", params={"from": "2026-01-05T00:00:00"}, headers=d)
    assert r.status_code == 422 and "from" in r.json()["detail"]
    r = client.get("/maintenance/kpis", params={"from": s, "to": s}, headers=d)
    assert r.status_code == 422 and "to" in r.json()["detail"]
    # A P0 ticket means the asset stopped: a downtime opens, resolving ends it.
    p0 = client.post(
        "/tickets", json={"asset": asset, "title": "stopped", "priority": "P0"}, headers=d
    )
    open_dt = client.get(f"/assets/{asset}/downtime", headers=d).json()
    assert [(x["ticket_id"], x["ended_at"]) for x in open_dt] == [(p0.json()["ticket"]["id"], None)]
