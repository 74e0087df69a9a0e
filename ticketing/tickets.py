"""Ticket operations. Each takes the transaction and the actor, and changes rows only
through :func:`update`, which audits before/after and emits the event: nothing changes
in place without an event."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from psycopg import sql

from ticketing import lifecycle, routing
from ticketing.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from ticketing.schemas import TicketCreate, TransitionIn
from ticketing.store import SYSTEM, Actor, Row, Tx

EVIDENCE_LIMIT = 100
SUMMARY = ("id", "asset", "site", "source", "priority", "fault_mode", "state", "engineer_id")
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ENGINEER_MAY = frozenset({"accepted", "en_route", "on_site", "waiting_parts", "resolved", "new"})


def tracking_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


def get(tx: Tx, ticket_id: int, *, lock: bool = False) -> Row:
    row = tx.one(
        "select * from tickets where id = %s" + (" for update" if lock else ""), (ticket_id,)
    )
    if row is None:
        raise NotFound("ticket", ticket_id)
    return row


def check_visible(actor: Actor, row: Row) -> None:
    """Engineers see and act on their own tickets only."""
    if actor.role == "engineer" and row["engineer_id"] != actor.engineer_id:
        raise Forbidden(
            f"ticket {row['id']} is not assigned to you; engineers see only their own tickets",
            ticket_id=row["id"],
        )


def get_for(tx: Tx, actor: Actor, ticket_id: int, *, lock: bool = False) -> Row:
    row = get(tx, ticket_id, lock=lock)
    check_visible(actor, row)
    return row


def out(row: Row) -> dict[str, Any]:
    return {**row, "allowed_transitions": lifecycle.allowed(row["state"])}


def summary(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in SUMMARY} | {"ticket_id": row["id"]}


def update(
    tx: Tx,
    actor: Actor,
    row: Row,
    changes: dict[str, Any],
    action: str,
    event_type: str,
    note: str | None = None,
) -> Row:
    """Apply ``changes`` to a ticket with one audit event and one emitted event."""
    changes = {**changes, "updated_at": tx.now}
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes
    )
    new = tx.one(
        sql.SQL("update tickets set {} where id = {} returning *").format(
            assignments, sql.Literal(row["id"])
        ),
        changes,
    )
    assert new is not None
    before = {k: row[k] for k in changes if k != "updated_at"}
    after = {k: v for k, v in changes.items() if k != "updated_at"}
    if note:
        after["note"] = note
    tx.audit(actor, action, "ticket", row["id"], before, after)
    tx.emit(
        event_type,
        new["site"],
        new["id"],
        {**summary(new), "action": action, "actor": actor.name, "changes": after},
    )
    return new


def deadlines(tx: Tx, priority: str, start: Any, site: str = "*") -> tuple[Any, Any]:
    """Response and resolution deadlines from the site's policy, else the default one."""
    p = tx.one(
        "select * from sla_policies where priority = %s and site in (%s, '*')"
        " order by site = '*' limit 1",
        (priority, site),
    )
    if p is None:
        return None, None
    return (
        start + timedelta(minutes=p["response_minutes"]),
        start + timedelta(minutes=p["resolution_minutes"]),
    )


def asset(tx: Tx, name: str) -> Row:
    row = tx.one("select asset, site, asset_class, lat, lon from assets where asset = %s", (name,))
    if row is None:
        raise NotFound("asset", name)
    return row


def after_open(tx: Tx, actor: Actor, row: Row) -> Row:
    """Audit and announce a freshly inserted ticket, then route it."""
    tx.audit(
        actor,
        "created",
        "ticket",
        row["id"],
        None,
        {k: row[k] for k in (*SUMMARY, "title", "response_due", "resolution_due")},
    )
    tx.emit(
        "ticket.created",
        row["site"],
        row["id"],
        {**summary(row), "actor": actor.name, "title": row["title"]},
    )
    return route(tx, row, "creation")


def create(tx: Tx, actor: Actor, data: TicketCreate) -> tuple[Row, bool]:
    """Open a ticket; a customer report on an asset with an open predictive ticket joins it."""
    a = asset(tx, data.asset)
    if data.source == "customer":
        pred = tx.one(
            "select * from tickets where asset = %s and source = 'predictive' and state not in"
            " ('resolved', 'closed', 'cancelled') order by created_at, id limit 1 for update",
            (data.asset,),
        )
        if pred is not None:
            return link_customer_report(tx, actor, pred, data), True
    response_due, resolution_due = deadlines(tx, data.priority, tx.now, a["site"])
    row = tx.one(
        "insert into tickets (tracking_code, asset, site, source, priority, fault_mode, title,"
        " description, contact, created_at, updated_at, response_due, resolution_due)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning *",
        (
            tracking_code(),
            a["asset"],
            a["site"],
            data.source,
            data.priority,
            data.fault_mode or "unknown",
            data.title,
            data.description,
            data.contact,
            tx.now,
            tx.now,
            response_due,
            resolution_due,
        ),
    )
    assert row is not None
    return after_open(tx, actor, row), False


def link_customer_report(tx: Tx, actor: Actor, pred: Row, data: TicketCreate) -> Row:
    """Record that the customer reported a fault we had already ticketed: we were first."""
    changes: dict[str, Any] = {}
    if pred["customer_reported_at"] is None:
        changes["customer_reported_at"] = tx.now
    if data.contact and not pred["contact"]:
        changes["contact"] = data.contact
    if lifecycle.PRIORITIES.index(data.priority) < lifecycle.PRIORITIES.index(pred["priority"]):
        changes["priority"] = data.priority
    add_comment(tx, actor, pred, f"Customer report: {data.title}\n{data.description}".strip(), True)
    lead = tx.now - pred["created_at"]
    return update(
        tx,
        actor,
        pred,
        changes,
        "customer_report_linked",
        "ticket.customer_report",
        note=f"predictive ticket opened {lead} before the customer report",
    )


def route(
    tx: Tx,
    row: Row,
    reason: str,
    *,
    exclude: frozenset[int] = frozenset(),
    supervisor_fallback: bool = False,
) -> Row:
    """Pick the engineer, store the explanation, assign. Leaves the ticket as is if nobody fits."""
    engineers = tx.all("select * from engineers order by id")
    loads = {
        r["engineer_id"]: r["n"]
        for r in tx.all(
            "select engineer_id, count(*)::int as n from tickets where engineer_id is not null"
            " and state not in ('resolved', 'closed', 'cancelled') group by engineer_id"
        )
    }
    a = tx.one("select asset_class, lat, lon from assets where asset = %s", (row["asset"],)) or {}
    fault = row["fault_mode"] if row["fault_mode"] != "unknown" else None
    job = routing.Job(row["site"], a.get("asset_class"), fault, a.get("lat"), a.get("lon"))
    scale_km = float(tx.options.get("distance_scale_km", 100.0))
    ranked = routing.score(job, engineers, loads, tx.now, scale_km=scale_km, exclude=exclude)
    explanation = routing.explain(ranked)
    chosen = next((c.engineer_id for c in ranked if c.excluded is None), None)
    if chosen is None and supervisor_fallback:
        sup = [e for e in engineers if e["supervisor"] and e["available"]]
        sup.sort(key=lambda e: (e["id"] in exclude, loads.get(e["id"], 0), e["id"]))
        if sup:
            chosen = sup[0]["id"]
            explanation += f" Escalated to supervisor {sup[0]['name']} (#{chosen})."
    tx.conn.execute(
        "insert into routing_decisions (ticket_id, at, reason, engineer_id, explanation,"
        " candidates) values (%s, %s, %s, %s, %s, %s)",
        (row["id"], tx.now, reason, chosen, explanation, _jsonb([c.as_dict() for c in ranked])),
    )
    if chosen is None or chosen == row["engineer_id"] or row["state"] not in lifecycle.ASSIGNABLE:
        return row
    return assign(tx, SYSTEM, row, chosen, f"routing ({reason}): {explanation}")


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def assign(
    tx: Tx, actor: Actor, row: Row, engineer_id: int, reason: str, *, manual: bool = False
) -> Row:
    if row["state"] not in lifecycle.ASSIGNABLE:
        raise InvalidTransition(
            row["id"], row["state"], "assigned", lifecycle.allowed(row["state"])
        )
    eng = tx.one("select id, name from engineers where id = %s", (engineer_id,))
    if eng is None:
        raise NotFound("engineer", engineer_id)
    if manual:
        tx.conn.execute(
            "insert into routing_decisions (ticket_id, at, reason, engineer_id, explanation,"
            " candidates) values (%s, %s, 'manual', %s, %s, '[]')",
            (
                row["id"],
                tx.now,
                engineer_id,
                f"Manual assignment to {eng['name']} (#{engineer_id}) by {actor.name} ({actor.role})"
                + (f": {reason}" if reason else "")
                + "; overrides routing.",
            ),
        )
    action = "reassigned" if row["engineer_id"] is not None else "assigned"
    return update(
        tx,
        actor,
        row,
        {"engineer_id": engineer_id, "state": "assigned"},
        action,
        "ticket.assigned",
        note=reason or None,
    )


def transition(tx: Tx, actor: Actor, row: Row, t: TransitionIn) -> Row:
    state, to = row["state"], t.to
    if not lifecycle.can_move(state, to):
        raise InvalidTransition(row["id"], state, to, lifecycle.allowed(state))
    if actor.role == "engineer" and (to not in ENGINEER_MAY or state in lifecycle.CLOSED_STATES):
        raise Forbidden(
            f"engineers may not move a ticket to {to!r} from {state!r}; ask a dispatcher"
        )
    changes: dict[str, Any] = {"state": to}
    if to == "new":
        changes["engineer_id"] = None
    if to == "assigned" and row["engineer_id"] is None:
        raise Conflict(
            f"ticket {row['id']} has no engineer; assign one instead",
            allowed=lifecycle.allowed(state),
        )
    if to == "accepted" and row["acknowledged_at"] is None:
        changes["acknowledged_at"] = tx.now
    if to == "on_site":
        changes["visits"] = row["visits"] + 1
    if to == "resolved":
        changes.update(_resolution(tx, row, t))
    if to == "closed":
        changes["closed_at"] = tx.now
    if to == "cancelled":
        changes["closed_at"] = tx.now
    reopen = state in ("resolved", "closed") and to in ("assigned", "new")
    if reopen:
        changes.update(
            resolved_at=None,
            closed_at=None,
            resolution_code=None,
            confirmed_fault_mode=None,
            first_time_fix=False,
        )
    action = "reopened" if reopen else f"state_{to}"
    new = update(tx, actor, row, changes, action, "ticket.state_changed", note=t.note)
    if to == "resolved" and new["source"] == "predictive":
        feedback(tx, new)
    return new


def _resolution(tx: Tx, row: Row, t: TransitionIn) -> dict[str, Any]:
    if t.resolution_code is None:
        raise Invalid("resolving needs resolution_code: confirmed, no_fault_found or fixed")
    if t.resolution_code == "no_fault_found" and t.confirmed_fault_mode:
        raise Invalid("confirmed_fault_mode only goes with resolution_code 'confirmed'")
    open_tasks = tx.all(
        "select id, title from subtasks where ticket_id = %s and not done order by id", (row["id"],)
    )
    if open_tasks:
        raise Conflict(
            f"ticket {row['id']} has {len(open_tasks)} open sub-task(s); close them first",
            subtasks=[r["id"] for r in open_tasks],
        )
    confirmed = None
    if t.resolution_code == "confirmed":
        confirmed = t.confirmed_fault_mode or row["fault_mode"]
    return {
        "resolved_at": tx.now,
        "resolution_code": t.resolution_code,
        "confirmed_fault_mode": confirmed,
        "failure_at": t.failure_at,
        "first_time_fix": row["visits"] <= 1 and row["first_time_fix"] is not False,
    }


FEEDBACK_ROOT = "forewarn/v1"


def feedback_topic(site: str, asset_name: str) -> str:
    from forewarn.contract.topics import check_id

    return f"{FEEDBACK_ROOT}/{check_id(site, 'site')}/{check_id(asset_name, 'asset')}/feedback"


def feedback(tx: Tx, row: Row) -> None:
    """Tell the detectors what the engineer found (table detector_feedback + MQTT)."""
    ids = [
        r["event_id"]
        for r in tx.all(
            "select event_id from ticket_anomalies where ticket_id = %s order by ts", (row["id"],)
        )
    ]
    tx.conn.execute(
        "insert into detector_feedback (ticket_id, site, asset, fault_mode, resolution_code,"
        " confirmed_fault_mode, event_ids, opened_at, resolved_at) values"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict (ticket_id) do update set"
        " resolution_code = excluded.resolution_code, confirmed_fault_mode ="
        " excluded.confirmed_fault_mode, event_ids = excluded.event_ids,"
        " resolved_at = excluded.resolved_at",
        (
            row["id"],
            row["site"],
            row["asset"],
            row["fault_mode"],
            row["resolution_code"],
            row["confirmed_fault_mode"],
            ids,
            row["created_at"],
            row["resolved_at"],
        ),
    )
    tx.emit(
        "ticket.feedback",
        row["site"],
        row["id"],
        {
            "ticket_id": row["id"],
            "asset": row["asset"],
            "site": row["site"],
            "fault_mode": row["fault_mode"],
            "resolution_code": row["resolution_code"],
            "confirmed_fault_mode": row["confirmed_fault_mode"],
            "event_ids": ids,
            "opened_at": row["created_at"].isoformat(),
            "resolved_at": row["resolved_at"].isoformat(),
        },
        topic=feedback_topic(row["site"], row["asset"]),
    )


def patch(tx: Tx, actor: Actor, row: Row, changes: dict[str, Any]) -> Row:
    changes = {k: v for k, v in changes.items() if v is not None and v != row[k]}
    if not changes:
        return row
    if "priority" in changes:
        changes.update(priority_deadlines(tx, row, changes["priority"]))
    return update(tx, actor, row, changes, "updated", "ticket.updated")


def priority_deadlines(tx: Tx, row: Row, priority: str) -> dict[str, Any]:
    """Deadlines of a more urgent priority, counted from the ticket's opening, if earlier."""
    out: dict[str, Any] = {}
    resp, res = deadlines(tx, priority, row["created_at"], row["site"])
    if (
        resp
        and row["acknowledged_at"] is None
        and (row["response_due"] is None or resp < row["response_due"])
    ):
        out["response_due"] = resp
    if (
        res
        and row["resolved_at"] is None
        and (row["resolution_due"] is None or res < row["resolution_due"])
    ):
        out["resolution_due"] = res
    return out


def _child(tx: Tx, actor: Actor, row: Row, action: str, table: str, values: dict[str, Any]) -> Row:
    values = {"ticket_id": row["id"], "created_at": tx.now, **values}
    new = tx.one(
        sql.SQL("insert into {} ({}) values ({}) returning *").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder(k) for k in values),
        ),
        values,
    )
    assert new is not None
    tx.audit(
        actor, action, "ticket", row["id"], None, {k: v for k, v in new.items() if k != "ticket_id"}
    )
    tx.conn.execute("update tickets set updated_at = %s where id = %s", (tx.now, row["id"]))
    tx.emit(
        f"ticket.{action}",
        row["site"],
        row["id"],
        {
            **summary(row),
            "action": action,
            "actor": actor.name,
            table.rstrip("s"): {"id": new["id"]},
        },
    )
    return new


def add_comment(tx: Tx, actor: Actor, row: Row, body: str, internal: bool) -> Row:
    return _child(
        tx,
        actor,
        row,
        "commented",
        "comments",
        {"author": actor.name, "role": actor.role, "body": body, "internal": internal},
    )


def add_attachment(tx: Tx, actor: Actor, row: Row, meta: dict[str, Any]) -> Row:
    return _child(tx, actor, row, "attached", "attachments", {**meta, "uploaded_by": actor.name})


def add_subtask(tx: Tx, actor: Actor, row: Row, title: str) -> Row:
    if not lifecycle.is_open(row["state"]):
        raise Conflict(f"ticket {row['id']} is {row['state']}; reopen it to add sub-tasks")
    return _child(tx, actor, row, "subtask_added", "subtasks", {"title": title})


def set_subtask(tx: Tx, actor: Actor, row: Row, subtask_id: int, done: bool) -> Row:
    st = tx.one(
        "select * from subtasks where id = %s and ticket_id = %s for update",
        (subtask_id, row["id"]),
    )
    if st is None:
        raise NotFound("sub-task", f"{subtask_id} of ticket {row['id']}")
    if st["done"] == done:
        return st
    new = tx.one(
        "update subtasks set done = %s, done_at = %s where id = %s returning *",
        (done, tx.now if done else None, subtask_id),
    )
    assert new is not None
    tx.audit(
        actor,
        "subtask_done" if done else "subtask_reopened",
        "ticket",
        row["id"],
        {"subtask": subtask_id, "done": st["done"]},
        {"subtask": subtask_id, "done": done},
    )
    tx.conn.execute("update tickets set updated_at = %s where id = %s", (tx.now, row["id"]))
    tx.emit(
        "ticket.subtask",
        row["site"],
        row["id"],
        {**summary(row), "subtask": subtask_id, "done": done, "actor": actor.name},
    )
    return new


def detail(tx: Tx, row: Row) -> dict[str, Any]:
    tid = row["id"]
    return {
        **out(row),
        "subtasks": tx.all("select * from subtasks where ticket_id = %s order by id", (tid,)),
        "comments": tx.all("select * from comments where ticket_id = %s order by id", (tid,)),
        "attachments": tx.all("select * from attachments where ticket_id = %s order by id", (tid,)),
        # The first and the newest events; a long-running fault can collect thousands.
        "evidence": tx.all(
            "select * from (select event_id, ts, severity, score, received_at,"
            " payload->'detector'->>'name' as detector, outcome from ticket_anomalies"
            " where ticket_id = %s order by ts desc, received_at desc, outcome = 'opened',"
            " event_id desc limit %s) e order by ts, received_at, outcome <> 'opened', event_id",
            (tid, EVIDENCE_LIMIT),
        ),
        "evidence_total": (
            tx.one("select count(*)::int as n from ticket_anomalies where ticket_id = %s", (tid,))
            or {"n": 0}
        )["n"],
        "routing": tx.all(
            "select at, reason, engineer_id, explanation, candidates from routing_decisions"
            " where ticket_id = %s order by id",
            (tid,),
        ),
    }
