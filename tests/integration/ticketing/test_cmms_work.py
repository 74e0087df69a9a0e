"""Job plans and spare parts over the real API and database: a predictive ticket gets the
job plan of its fault mode and reserves its parts (also when the fault is named later);
20 concurrent reservations of the last 5 parts reserve exactly 5 (uvicorn + 20 HTTP
clients, and 20 raw connections released together); a failed step opens a follow-up;
completion issues the parts and a low stock raises ``stock.low``; bad input is refused."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
from ticketing_helpers import anomaly, auth, uid

from ticketing.cmms import parts
from ticketing.store import Actor, Tx


def _part(client: Any, token: str, on_hand: int, store: str = "main", **stock: Any) -> int:
    r = client.post(
        "/parts",
        json={"sku": f"sku-{uid()}", "name": "bearing 6205", "unit_cost": 12.5},
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    pid = int(r.json()["id"])
    r = client.put(
        f"/parts/{pid}/stock/{store}",
        json={"on_hand": on_hand, "site": "site-a", **stock},
        headers=auth(token),
    )
    assert r.status_code == 200, r.text
    return pid


def _job_plan(client: Any, token: str, fault: str, part: int, qty: int = 2) -> int:
    r = client.post(
        "/job-plans",
        json={
            "name": f"replace bearing ({fault})",
            "fault_mode": fault,
            "skills": ["bearing_wear"],
            "est_minutes": 90,
            "steps": [
                {"text": "lock out, tag out"},
                {"text": "measure vibration after", "kind": "reading"},
                {"text": "check alignment"},
            ],
            "parts": [{"part_id": part, "qty": qty}],
        },
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _stock(client: Any, token: str, part: int) -> dict[str, Any]:
    return client.get(f"/parts/{part}", headers=auth(token)).json()["stock"][0]


def test_predictive_ticket_gets_job_plan_and_parts_then_completion_issues(
    client, tokens, make_asset, db
) -> None:
    d = tokens["dispatcher"]
    fault = f"bearing_wear_{uid()}"  # unique: other tests' tickets stay without a plan
    part = _part(client, d, on_hand=3, reorder_point=1)
    plan = _job_plan(client, d, fault, part, qty=2)
    asset = make_asset("centrifugal_pump")
    r = client.post(
        "/anomalies", json=anomaly(asset, fault=fault), headers=auth(tokens["integration"])
    )
    assert r.status_code == 201
    tid = r.json()["ticket_id"]
    work = client.get(f"/tickets/{tid}/work", headers=auth(d)).json()
    assert work["job_plan"]["id"] == plan
    assert [s["position"] for s in work["steps"]] == [1, 2, 3]
    assert [(p["part_id"], p["qty"], p["state"]) for p in work["parts"]] == [(part, 2, "reserved")]
    assert _stock(client, d, part)["available"] == 1
    # available 1 <= reorder point 1: one low-stock event, audited
    low = db.execute(
        "select count(*) from audit_events where action = 'stock_low' and entity_id = %s",
        (str(part),),
    ).fetchone()
    assert low == (1,)
    # The checklist: a reading step needs its reading; a failed step opens a follow-up.
    h = auth(d)
    r = client.post(f"/tickets/{tid}/steps/2", json={"result": "pass"}, headers=h)
    assert r.status_code == 422 and "reading" in r.json()["detail"]
    r = client.post(
        f"/tickets/{tid}/steps/1", json={"result": "pass", "follow_up": True}, headers=h
    )
    assert r.status_code == 422 and "follow_up" in r.json()["detail"]
    assert (
        client.post(f"/tickets/{tid}/steps/1", json={"result": "pass"}, headers=h).status_code
        == 200
    )
    r = client.post(f"/tickets/{tid}/steps/2", json={"result": "pass", "reading": 2.1}, headers=h)
    assert r.status_code == 200
    r = client.post(
        f"/tickets/{tid}/steps/3",
        json={"result": "fail", "note": "coupling worn", "follow_up": True},
        headers=h,
    )
    assert r.status_code == 200
    follow = r.json()["steps"][2]["followup_ticket_id"]
    assert follow is not None and follow != tid
    ft = client.get(f"/tickets/{follow}", headers=h).json()
    assert ft["asset"] == asset and "step 3 failed" in ft["title"]
    assert (
        client.post(f"/tickets/{tid}/steps/9", json={"result": "pass"}, headers=h).status_code
        == 404
    )
    # Completion issues the reserved parts: on hand drops by 2, nothing stays reserved.
    db.execute(  # straight to on site (the walk there is tested elsewhere)
        "update tickets set state = 'on_site', engineer_id = null where id = %s", (tid,)
    )
    r = client.post(
        f"/tickets/{tid}/transitions",
        json={"to": "resolved", "resolution_code": "fixed"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    s = _stock(client, d, part)
    assert (s["on_hand"], s["reserved"]) == (1, 0)
    issued = client.get(f"/tickets/{tid}/work", headers=h).json()["parts"]
    assert [p["state"] for p in issued] == ["issued"]


def test_fault_named_later_swaps_in_its_job_plan(client, tokens, make_asset) -> None:
    d, integ = tokens["dispatcher"], auth(tokens["integration"])
    fault = f"cavitation_{uid()}"
    part = _part(client, d, on_hand=0)  # nothing in stock: the reservation is 'short'
    plan = _job_plan(client, d, fault, part, qty=1)
    asset = make_asset("centrifugal_pump")
    r = client.post("/anomalies", json=anomaly(asset, fault=None), headers=integ)
    tid = r.json()["ticket_id"]
    assert client.get(f"/tickets/{tid}/work", headers=auth(d)).json()["job_plan"] is None
    r = client.post("/anomalies", json=anomaly(asset, fault=fault), headers=integ)
    assert r.json()["ticket_id"] == tid  # the unknown ticket was named
    work = client.get(f"/tickets/{tid}/work", headers=auth(d)).json()
    assert work["job_plan"]["id"] == plan
    assert [p["state"] for p in work["parts"]] == ["short"]  # the dispatcher sees it at once


def test_twenty_concurrent_http_reservations_of_the_last_five(
    live_server, client, tokens, make_asset, db
) -> None:
    d = tokens["dispatcher"]
    part = _part(client, d, on_hand=5)
    asset = make_asset("pump")
    tickets = [
        client.post("/tickets", json={"asset": asset, "title": f"t{i}"}, headers=auth(d)).json()[
            "ticket"
        ]["id"]
        for i in range(20)
    ]

    def reserve(tid: int) -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=60) as c:
            return c.post(
                f"/tickets/{tid}/reservations", json={"part_id": part, "qty": 1}, headers=auth(d)
            )

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(reserve, tickets))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 5 + [409] * 15, [
        r.text for r in answers if r.status_code not in (201, 409)
    ]
    assert all("qty" in r.json()["detail"] for r in answers if r.status_code == 409)
    assert _stock(client, d, part)["reserved"] == 5
    n = db.execute("select count(*) from reservations where part_id = %s", (part,)).fetchone()
    assert n == (5,)  # a refused reservation writes nothing


def test_twenty_raw_connections_released_together_reserve_exactly_five(
    client, tokens, make_asset, dsn
) -> None:
    d = tokens["dispatcher"]
    part = _part(client, d, on_hand=5)
    asset = make_asset("pump")
    tickets = [
        client.post("/tickets", json={"asset": asset, "title": f"r{i}"}, headers=auth(d)).json()[
            "ticket"
        ]
        for i in range(20)
    ]
    barrier = threading.Barrier(20)
    actor = Actor("race", "dispatcher")

    def go(ticket: dict[str, Any]) -> str:
        with psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as conn:
            barrier.wait()
            try:
                with conn.transaction():
                    from datetime import UTC, datetime

                    tx = Tx(conn, datetime.now(UTC))
                    parts.reserve(tx, actor, ticket, part, 1, allow_short=False)
                return "ok"
            except Exception as exc:  # the Conflict naming qty
                return type(exc).__name__

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(go, tickets))
    assert results.count("ok") == 5 and results.count("Conflict") == 15, results
    assert _stock(client, d, part)["reserved"] == 5


def test_bad_parts_input_is_refused(client, tokens, db) -> None:
    d = auth(tokens["dispatcher"])
    part = _part(client, tokens["dispatcher"], on_hand=2)
    asset_t = client.post("/tickets", json={"asset": _any_asset(db), "title": "x"}, headers=d)
    tid = asset_t.json()["ticket"]["id"]
    r = client.post(f"/tickets/{tid}/reservations", json={"part_id": part, "qty": 3}, headers=d)
    assert r.status_code == 409 and "qty" in r.json()["detail"]
    r = client.post(f"/tickets/{tid}/reservations", json={"part_id": part, "qty": 0}, headers=d)
    assert r.status_code == 422
    assert (
        client.post(
            f"/tickets/{tid}/reservations", json={"part_id": 987654, "qty": 1}, headers=d
        ).status_code
        == 404
    )
    ok = client.post(f"/tickets/{tid}/reservations", json={"part_id": part, "qty": 2}, headers=d)
    assert ok.status_code == 201
    # Counting the store below what is reserved is refused naming on_hand.
    r = client.put(f"/parts/{part}/stock/main", json={"on_hand": 1}, headers=d)
    assert r.status_code == 422 and "on_hand" in r.json()["detail"]
    r = client.post("/job-plans", json={"name": "x", "est_minutes": 0}, headers=d)
    assert r.status_code == 422 and "est_minutes" in str(r.json()["detail"])
    r = client.post(
        "/job-plans",
        json={"name": "x", "est_minutes": 5, "parts": [{"part_id": 987654, "qty": 1}]},
        headers=d,
    )
    assert r.status_code == 404 and "part_id" in r.json()["detail"]


def _any_asset(db: Any) -> str:
    name = f"bad-{uid()}"
    db.execute("insert into assets (asset, site) values (%s, 'site-a')", (name,))
    return name
