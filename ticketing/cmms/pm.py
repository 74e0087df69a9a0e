"""Preventive maintenance: plans by calendar (every N days, fixed or floating from the last
completion), by meter (every N running hours or starts), or whichever comes first.

The scan asks, at the injected clock's now, which plans have an occurrence due (lead time
included) and opens a ``scheduled`` ticket through the same path as any other ticket
(``tickets.create``: SLA deadlines, routing, audit). Each occurrence has a key unique per
plan in the database, inserted ON CONFLICT DO NOTHING under a lock on the plan row, so a
restart, a second worker or a repeated scan opens it exactly once. An occurrence that comes
due while the plan still has an open ticket is recorded as ``skipped``.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql

from ticketing import tickets
from ticketing.cmms import assets as A
from ticketing.errors import Conflict, NotFound
from ticketing.lifecycle import T_OPEN
from ticketing.schemas import TicketCreate
from ticketing.store import Actor, Row, Store, Tx

log = logging.getLogger("ticketing.pm")
PM_ACTOR = Actor("pm-scheduler", "system")


@dataclass(frozen=True)
class Due:
    key: str
    trigger: str
    due_at: datetime
    meter_due: float | None


def last_done(tx: Tx, plan_id: int) -> Row | None:
    return tx.one(
        "select t.resolved_at, o.done_meter from pm_occurrences o join tickets t on"
        " t.id = o.ticket_id where o.plan_id = %s and t.resolved_at is not null"
        " order by t.resolved_at desc limit 1",
        (plan_id,),
    )


def meter_value(tx: Tx, asset: str, meter: str) -> float:
    row = tx.one("select value from asset_meters where asset = %s and meter = %s", (asset, meter))
    return float(row["value"]) if row else 0.0


def calendar_due(plan: Row, done: Row | None, now: datetime) -> Due | None:
    if plan["every_days"] is None:
        return None
    every = timedelta(days=plan["every_days"])
    lead = timedelta(days=plan["lead_days"])
    if plan["anchor"] == "floating" and done is not None:
        due_at = done["resolved_at"] + every
    elif plan["anchor"] == "floating":
        due_at = plan["start_at"]
    else:
        k = math.floor((now + lead - plan["start_at"]) / every)
        if k < 0:
            return None
        due_at = plan["start_at"] + k * every
    if due_at - lead > now:
        return None
    return Due(f"cal:{due_at.isoformat()}", "calendar", due_at, None)


def meter_due(plan: Row, done: Row | None, value: float, now: datetime) -> Due | None:
    if plan["every_meter"] is None:
        return None
    every, lead = float(plan["every_meter"]), float(plan["lead_meter"])
    if plan["anchor"] == "floating" and done is not None and done["done_meter"] is not None:
        threshold = float(done["done_meter"]) + every
    elif plan["anchor"] == "floating":
        threshold = float(plan["start_meter"]) + every
    else:
        k = math.floor((value + lead - float(plan["start_meter"])) / every + 1e-9)
        if k < 1:
            return None
        threshold = float(plan["start_meter"]) + k * every
    if value + lead < threshold - 1e-9:
        return None
    # A meter occurrence is due now; lead_days is the window to do the work in.
    due_at = now + timedelta(days=plan["lead_days"])
    return Due(f"meter:{threshold:.6g}", "meter", due_at, threshold)


def due_now(tx: Tx, plan: Row) -> Due | None:
    """The plan's occurrence due at the clock's now (calendar first when both are)."""
    done = last_done(tx, plan["id"])
    value = meter_value(tx, plan["asset"], plan["meter"]) if plan["meter"] else 0.0
    return calendar_due(plan, done, tx.now) or meter_due(plan, done, value, tx.now)


def open_ticket(tx: Tx, plan_id: int) -> Row | None:
    return tx.one(
        f"select t.id from pm_occurrences o join tickets t on t.id = o.ticket_id"
        f" where o.plan_id = %s and {T_OPEN} limit 1",
        (plan_id,),
    )


def scan_plan(tx: Tx, plan_id: int) -> dict[str, Any] | None:
    """Open (or skip) the occurrence of one plan that is due now; None if none is new."""
    plan = tx.one("select * from pm_plans where id = %s and active for update", (plan_id,))
    if plan is None:
        return None
    due = due_now(tx, plan)
    if due is None:
        return None
    occ = tx.one(
        "insert into pm_occurrences (plan_id, key, trigger, due_at, meter_due, outcome,"
        " created_at) values (%s, %s, %s, %s, %s, 'skipped', %s)"
        " on conflict (plan_id, key) do nothing returning id",
        (plan["id"], due.key, due.trigger, due.due_at, due.meter_due, tx.now),
    )
    if occ is None:
        return None  # this occurrence was handled already (before a restart, say)
    busy = open_ticket(tx, plan["id"])
    result: dict[str, Any] = {"plan_id": plan["id"], "key": due.key, "ticket_id": None}
    if busy is not None:
        tx.audit(
            PM_ACTOR,
            "pm_skipped",
            "pm_plan",
            plan["id"],
            None,
            {"key": due.key, "open_ticket": busy["id"]},
        )
        return {**result, "outcome": "skipped", "open_ticket": busy["id"]}
    what = (
        f"every {plan['every_days']} days"
        if due.trigger == "calendar"
        else f"every {plan['every_meter']:g} {plan['meter']} (reached {due.meter_due:g})"
    )
    row, _ = tickets.create(
        tx,
        PM_ACTOR,
        TicketCreate(
            asset=plan["asset"],
            source="scheduled",
            priority=plan["priority"],
            title=f"PM: {plan['name']}"[:200],
            description=f"Preventive maintenance plan #{plan['id']} ({what}),"
            f" due {due.due_at.isoformat()}.",
        ),
    )
    tx.conn.execute(
        "update pm_occurrences set outcome = 'opened', ticket_id = %s where id = %s",
        (row["id"], occ["id"]),
    )
    tx.audit(
        PM_ACTOR,
        "pm_opened",
        "pm_plan",
        plan["id"],
        None,
        {"key": due.key, "ticket_id": row["id"], "due_at": due.due_at},
    )
    from ticketing.cmms import hooks

    hooks.pm_ticket_opened(tx, PM_ACTOR, row, plan)
    return {**result, "outcome": "opened", "ticket_id": row["id"]}


def scan(store: Store) -> list[dict[str, Any]]:
    """One pass over the active plans, each in its own transaction."""
    ids = store.read(lambda tx: [r["id"] for r in tx.all("select id from pm_plans where active")])
    out = []
    for plan_id in ids:
        try:
            got = store.run(functools.partial(scan_plan, plan_id=plan_id))
        except Exception:  # one broken plan must not stop the others
            log.exception("pm plan %s scan failed", plan_id)
            continue
        if got is not None:
            out.append(got)
    return out


def resolved(tx: Tx, row: Row) -> None:
    """A PM ticket is done: remember the meter at completion (floating meter plans)."""
    occ = tx.one(
        "select o.id, p.asset, p.meter from pm_occurrences o join pm_plans p on p.id = o.plan_id"
        " where o.ticket_id = %s",
        (row["id"],),
    )
    if occ is not None and occ["meter"]:
        tx.conn.execute(
            "update pm_occurrences set done_meter = %s where id = %s",
            (meter_value(tx, occ["asset"], occ["meter"]), occ["id"]),
        )


# --- plans -----------------------------------------------------------------------------

PLAN_FIELDS = (
    "name",
    "asset",
    "every_days",
    "anchor",
    "meter",
    "every_meter",
    "lead_days",
    "lead_meter",
    "priority",
    "start_at",
    "start_meter",
    "active",
    "job_plan_id",
)


def get_plan(tx: Tx, plan_id: int) -> Row:
    row = tx.one("select * from pm_plans where id = %s", (plan_id,))
    if row is None:
        raise NotFound("pm plan", plan_id)
    return row


def _check_job_plan(tx: Tx, job_plan_id: int | None) -> None:
    if job_plan_id is not None and not tx.one(
        "select 1 from job_plans where id = %s", (job_plan_id,)
    ):
        raise A.Unknown(f"job_plan_id: unknown job plan {job_plan_id}", field="job_plan_id")


def create_plan(tx: Tx, actor: Actor, data: dict[str, Any]) -> Row:
    A.get(tx, data["asset"])
    _check_job_plan(tx, data.get("job_plan_id"))
    data = {k: v for k, v in data.items() if v is not None}
    data.setdefault("start_at", tx.now)
    cols = list(data)
    row = tx.one(
        sql.SQL(
            "insert into pm_plans ({}, created_at) values ({}, %(created_at)s) returning *"
        ).format(
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder(c) for c in cols),
        ),
        {**data, "created_at": tx.now},
    )
    assert row is not None
    tx.audit(actor, "pm_plan_created", "pm_plan", row["id"], None, data)
    return row


def patch_plan(tx: Tx, actor: Actor, plan_id: int, changes: dict[str, Any]) -> Row:
    row = get_plan(tx, plan_id)
    changes = {k: v for k, v in changes.items() if v != row.get(k)}
    if not changes:
        return row
    _check_job_plan(tx, changes.get("job_plan_id"))
    merged = {**row, **changes}
    if (merged["meter"] is None) != (merged["every_meter"] is None):
        raise Conflict("meter: a meter plan needs both meter and every_meter", field="meter")
    if merged["every_days"] is None and merged["every_meter"] is None:
        raise Conflict("every_days: the plan would have no interval left", field="every_days")
    new = tx.one(
        sql.SQL("update pm_plans set {} where id = %(id)s returning *").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes
            )
        ),
        {**changes, "id": plan_id},
    )
    assert new is not None
    tx.audit(actor, "pm_plan_updated", "pm_plan", plan_id, {k: row[k] for k in changes}, changes)
    return new


def occurrences(tx: Tx, plan_id: int) -> list[Row]:
    get_plan(tx, plan_id)
    return tx.all(
        "select o.*, t.state, t.resolved_at from pm_occurrences o left join tickets t"
        " on t.id = o.ticket_id where o.plan_id = %s order by o.id",
        (plan_id,),
    )


# --- forecast --------------------------------------------------------------------------


def meter_rate_per_day(tx: Tx, asset: str, meter: str) -> float | None:
    """How fast the meter moved over the last 7 days of readings (None: no history)."""
    row = tx.one(
        "select min(value) as lo, max(value) as hi, min(at) as t0, max(at) as t1"
        " from meter_readings where asset = %s and meter = %s and at > %s",
        (asset, meter, tx.now - timedelta(days=7)),
    )
    if not row or row["t0"] is None or row["t1"] == row["t0"]:
        return None
    days = (row["t1"] - row["t0"]).total_seconds() / 86400
    return float(row["hi"] - row["lo"]) / days if days > 0 else None


def forecast(tx: Tx, days: int = 30, site: str | None = None) -> list[dict[str, Any]]:
    """What comes due in the next ``days``: calendar dates, and meter thresholds projected
    from the meter's recent rate."""
    now, end = tx.now, tx.now + timedelta(days=days)
    out: list[dict[str, Any]] = []
    plans = tx.all(
        "select p.*, a.site from pm_plans p join assets a on a.asset = p.asset where p.active"
        " and (%(site)s::text is null or a.site = %(site)s) order by p.id",
        {"site": site},
    )
    for p in plans:
        base = {"plan_id": p["id"], "plan": p["name"], "asset": p["asset"], "site": p["site"]}
        done = last_done(tx, p["id"])
        busy = open_ticket(tx, p["id"])
        if p["every_days"]:
            every = timedelta(days=p["every_days"])
            if p["anchor"] == "floating":
                first = done["resolved_at"] + every if done else p["start_at"]
                dates = [first] if first <= end else []
            else:
                k = max(0, math.ceil((now - p["start_at"]) / every))
                dates = []
                while (d := p["start_at"] + k * every) <= end and len(dates) < 400:
                    dates.append(d)
                    k += 1
            for d in dates:
                out.append(
                    {
                        **base,
                        "trigger": "calendar",
                        "due_at": d,
                        "meter_due": None,
                        "open_ticket": busy["id"] if busy else None,
                    }
                )
        if p["every_meter"]:
            value = meter_value(tx, p["asset"], p["meter"])
            done_m = done["done_meter"] if done and done["done_meter"] is not None else None
            if p["anchor"] == "floating":
                threshold = (done_m if done_m is not None else p["start_meter"]) + p["every_meter"]
            else:
                k = math.floor((value - p["start_meter"]) / p["every_meter"] + 1e-9) + 1
                threshold = p["start_meter"] + k * p["every_meter"]
            rate = meter_rate_per_day(tx, p["asset"], p["meter"])
            remaining = max(0.0, threshold - p["lead_meter"] - value)
            ahead = remaining / rate if rate else None
            when = now + timedelta(days=ahead) if ahead is not None and ahead <= days else None
            if remaining == 0 or (when is not None and when <= end):
                out.append(
                    {
                        **base,
                        "trigger": "meter",
                        "due_at": when or now,
                        "meter_due": threshold,
                        "meter_now": value,
                        "open_ticket": busy["id"] if busy else None,
                    }
                )
    out.sort(key=lambda r: (r["due_at"], r["plan_id"]))
    return out
