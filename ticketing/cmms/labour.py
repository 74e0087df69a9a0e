"""Labour, downtime and the maintenance KPIs (MTBF, MTTR, PM compliance, planned share,
cost) per asset or asset class over a window.

Definitions (the test computes them by hand on seeded data):
- failure: an unplanned downtime that ended inside the window;
- MTTR: mean length of those downtimes, hours;
- MTBF: (window hours × assets − unplanned downtime hours in the window) / failures;
- PM compliance: PM occurrences due in the window (and already due) whose ticket was
  resolved by the due time, over all of them;
- planned share: scheduled tickets opened in the window over all (not cancelled) ones;
- cost: Σ hours × rate of the time entries plus Σ qty × unit cost of issued parts, for the
  tickets opened in the window.
A P0 ticket (the asset stopped) opens a downtime at its creation; resolving closes it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from ticketing import tickets as T
from ticketing.errors import Conflict, Forbidden, Invalid, NotFound
from ticketing.store import Actor, Row, Tx


def add_time(tx: Tx, actor: Actor, ticket: Row, data: dict[str, Any]) -> Row:
    if data["ended_at"] <= data["started_at"]:
        raise Invalid("ended_at: must be after started_at", field="ended_at")
    eng = data.get("engineer_id") or actor.engineer_id or ticket["engineer_id"]
    if eng is None:
        raise Conflict(
            "engineer_id: whose time is it? (the ticket has no engineer)", field="engineer_id"
        )
    if actor.role == "engineer" and eng != actor.engineer_id:
        raise Forbidden("engineer_id: engineers book their own time", field="engineer_id")
    if not tx.one("select 1 from engineers where id = %s", (eng,)):
        raise NotFound("engineer", eng)
    rate = data.get("rate_per_h")
    if rate is None:
        rate = tx.options.labour_rate_per_h
    row = tx.one(
        "insert into time_entries (ticket_id, engineer_id, started_at, ended_at, rate_per_h,"
        " note, created_by, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s) returning *",
        (
            ticket["id"],
            eng,
            data["started_at"],
            data["ended_at"],
            rate,
            data.get("note"),
            actor.name,
            tx.now,
        ),
    )
    assert row is not None
    out = _entry(row)
    tx.audit(actor, "time_booked", "ticket", ticket["id"], None, out)
    return out


def _entry(row: Row) -> Row:
    hours = (row["ended_at"] - row["started_at"]).total_seconds() / 3600
    return {**row, "rate_per_h": float(row["rate_per_h"]), "hours": round(hours, 4)}


def time_for(tx: Tx, ticket_id: int) -> list[Row]:
    return [
        _entry(r)
        for r in tx.all("select * from time_entries where ticket_id = %s order by id", (ticket_id,))
    ]


def add_downtime(tx: Tx, actor: Actor, asset: str, data: dict[str, Any]) -> Row:
    if not tx.one("select 1 from assets where asset = %s", (asset,)):
        raise NotFound("asset", asset)
    if data.get("ended_at") is not None and data["ended_at"] <= data["started_at"]:
        raise Invalid("ended_at: must be after started_at", field="ended_at")
    if data.get("ticket_id") is not None:
        T.get(tx, data["ticket_id"])
    row = tx.one(
        "insert into downtime (asset, started_at, ended_at, planned, ticket_id, source, note,"
        " created_at) values (%s, %s, %s, %s, %s, 'manual', %s, %s) returning *",
        (
            asset,
            data["started_at"],
            data.get("ended_at"),
            data.get("planned", False),
            data.get("ticket_id"),
            data.get("note"),
            tx.now,
        ),
    )
    assert row is not None
    tx.audit(actor, "downtime_recorded", "asset", asset, None, dict(row))
    return row


def end_downtime(tx: Tx, actor: Actor, downtime_id: int, ended_at: datetime) -> Row:
    old = tx.one("select * from downtime where id = %s for update", (downtime_id,))
    if old is None:
        raise NotFound("downtime", downtime_id)
    if ended_at <= old["started_at"]:
        raise Invalid("ended_at: must be after started_at", field="ended_at")
    row = tx.one(
        "update downtime set ended_at = %s where id = %s returning *", (ended_at, downtime_id)
    )
    assert row is not None
    tx.audit(
        actor,
        "downtime_ended",
        "asset",
        old["asset"],
        {"ended_at": old["ended_at"]},
        {"id": downtime_id, "ended_at": ended_at},
    )
    return row


def downtime_for(tx: Tx, asset: str) -> list[Row]:
    return tx.all(
        "select * from downtime where asset = %s order by started_at desc limit 200", (asset,)
    )


def ticket_opened(tx: Tx, actor: Actor, row: Row) -> None:
    """A P0 ticket means the asset stopped: its downtime starts now."""
    if row["priority"] == "P0":
        tx.conn.execute(
            "insert into downtime (asset, started_at, planned, ticket_id, source, created_at)"
            " values (%s, %s, %s, %s, 'ticket', %s) on conflict do nothing",
            (row["asset"], row["created_at"], row["source"] == "scheduled", row["id"], tx.now),
        )


def ticket_resolved(tx: Tx, actor: Actor, row: Row) -> None:
    tx.conn.execute(
        "update downtime set ended_at = %s where ticket_id = %s and ended_at is null"
        " and started_at < %s",
        (tx.now, row["id"], tx.now),
    )


# --- KPIs ------------------------------------------------------------------------------


def _hours(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds() / 3600)


def kpis(tx: Tx, start: datetime, end: datetime, group_by: str) -> list[dict[str, Any]]:
    if end <= start:
        raise Invalid("to: must be after from", field="to")
    assets = tx.all("select asset, coalesce(asset_class, 'unknown') as cls from assets")
    key = {a["asset"]: ("all" if group_by == "none" else a[group_by_col(group_by)]) for a in assets}
    members: dict[str, int] = defaultdict(int)
    for a in assets:
        members[key[a["asset"]]] += 1
    g: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for d in tx.all(
        "select asset, started_at, ended_at from downtime where not planned"
        " and started_at < %(end)s and coalesce(ended_at, %(end)s) > %(start)s",
        {"start": start, "end": end},
    ):
        k = key[d["asset"]]
        g[k]["down_h"] += _hours(max(d["started_at"], start), min(d["ended_at"] or end, end))
        if d["ended_at"] is not None and start < d["ended_at"] <= end:
            g[k]["failures"] += 1
            g[k]["repair_h"] += _hours(d["started_at"], d["ended_at"])
    for o in tx.all(
        "select p.asset, o.due_at, t.resolved_at from pm_occurrences o join pm_plans p on"
        " p.id = o.plan_id join tickets t on t.id = o.ticket_id where o.outcome = 'opened'"
        " and o.due_at >= %s and o.due_at < %s and o.due_at <= %s",
        (start, end, tx.now),
    ):
        k = key[o["asset"]]
        g[k]["pm_due"] += 1
        if o["resolved_at"] is not None and o["resolved_at"] <= o["due_at"]:
            g[k]["pm_on_time"] += 1
    tickets = tx.all(
        "select id, asset, source from tickets where state <> 'cancelled'"
        " and created_at >= %s and created_at < %s",
        (start, end),
    )
    asset_of = {t["id"]: t["asset"] for t in tickets}
    for t in tickets:
        k = key[t["asset"]]
        g[k]["tickets"] += 1
        g[k]["planned"] += t["source"] == "scheduled"
    ids = list(asset_of)
    for e in tx.all(
        "select ticket_id, started_at, ended_at, rate_per_h from time_entries"
        " where ticket_id = any(%s)",
        (ids,),
    ):
        k = key[asset_of[e["ticket_id"]]]
        h = _hours(e["started_at"], e["ended_at"])
        g[k]["labour_h"] += h
        g[k]["labour_cost"] += h * float(e["rate_per_h"])
    for r in tx.all(
        "select r.ticket_id, r.qty * p.unit_cost as cost from reservations r join parts p"
        " on p.id = r.part_id where r.state = 'issued' and r.ticket_id = any(%s)",
        (ids,),
    ):
        g[key[asset_of[r["ticket_id"]]]]["parts_cost"] += float(r["cost"])
    window_h = _hours(start, end)
    out = []
    for k in sorted(g):
        v = g[k]
        uptime = window_h * members[k] - v["down_h"]
        out.append(
            {
                "group": k,
                "assets": members[k],
                "failures": int(v["failures"]),
                "downtime_h": _r(v["down_h"]),
                "mtbf_h": _r(uptime / v["failures"]) if v["failures"] else None,
                "mttr_h": _r(v["repair_h"] / v["failures"]) if v["failures"] else None,
                "pm_due": int(v["pm_due"]),
                "pm_compliance": _r(v["pm_on_time"] / v["pm_due"]) if v["pm_due"] else None,
                "tickets": int(v["tickets"]),
                "planned_share": _r(v["planned"] / v["tickets"]) if v["tickets"] else None,
                "labour_h": _r(v["labour_h"]),
                "labour_cost": _r(v["labour_cost"]),
                "parts_cost": _r(v["parts_cost"]),
                "cost": _r(v["labour_cost"] + v["parts_cost"]),
            }
        )
    return out


def group_by_col(group_by: str) -> str:
    return {"asset": "asset", "asset_class": "cls"}[group_by]


def _r(x: float) -> float:
    return round(x, 4)
