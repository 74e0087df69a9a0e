"""Ticket operations: open, route, assign, move, patch, read. Each takes the transaction and
the actor, and changes rows only through :func:`ticketing.records.update`, which audits
before/after and emits the event: nothing changes in place without an event."""

from __future__ import annotations

import secrets
from typing import Any

from ticketing import lifecycle, policies, routing
from ticketing.cmms import hooks as cmms_hooks
from ticketing.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from ticketing.lifecycle import OPEN
from ticketing.records import SUMMARY, add_comment, feedback, summary, update
from ticketing.schemas import TicketCreate, TransitionIn
from ticketing.store import SYSTEM, Actor, Row, Tx

EVIDENCE_LIMIT = 100
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# One open predictive ticket per (asset, fault mode): index tickets_one_open_predictive.
ON_CONFLICT = {
    True: f" on conflict (asset, fault_mode) where source = 'predictive' and {OPEN} do nothing",
    False: "",
}
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
    """Engineers see and act on their own tickets only; a site-scoped token sees only its
    sites' tickets (others answer 404, as if they did not exist)."""
    if not actor.sees(row["site"]):
        raise NotFound("ticket", row["id"])
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
    routed = route(tx, row, "creation")
    cmms_hooks.opened(tx, actor, routed)  # job plan, parts (ticketing.cmms)
    return routed


def create(tx: Tx, actor: Actor, data: TicketCreate) -> tuple[Row, bool]:
    """Open a ticket; a customer report on an asset with an open predictive ticket joins it."""
    a = asset(tx, data.asset)
    if not actor.sees(a["site"]):
        raise NotFound("asset", data.asset)  # a scoped token does not see other sites' assets
    if data.source == "customer":
        pred = tx.one(
            f"select * from tickets where asset = %s and source = 'predictive' and {OPEN}"
            " order by created_at, id limit 1 for update",
            (data.asset,),
        )
        if pred is not None:
            return link_customer_report(tx, actor, pred, data), True
    row = insert(
        tx,
        a,
        data.source,
        data.priority,
        data.fault_mode or "unknown",
        data.title,
        data.description,
        data.contact,
    )
    assert row is not None
    return after_open(tx, actor, row), False


def insert(
    tx: Tx,
    a: Row,
    source: str,
    priority: str,
    fault_mode: str,
    title: str,
    description: str,
    contact: str | None = None,
) -> Row | None:
    """Insert a ticket opened now on asset ``a``, with its policy's deadlines (no audit, event
    or routing: :func:`after_open` does those). A predictive ticket is not inserted (None)
    while the asset has an open one for the fault: index ``tickets_one_open_predictive``."""
    response_due, resolution_due = policies.deadlines(tx, priority, tx.now, a["site"])
    return tx.one(
        "insert into tickets (tracking_code, asset, site, source, priority, fault_mode, title,"
        " description, contact, created_at, updated_at, response_due, resolution_due)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f"{ON_CONFLICT[source == 'predictive']} returning *",
        (
            tracking_code(),
            a["asset"],
            a["site"],
            source,
            priority,
            fault_mode,
            title,
            description,
            contact,
            tx.now,
            tx.now,
            response_due,
            resolution_due,
        ),
    )


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


def rank(
    tx: Tx, row: Row, *, exclude: frozenset[int] = frozenset()
) -> tuple[list[routing.Candidate], list[Row], dict[int, int], routing.Job, Row]:
    """Every engineer scored for the ticket by routing, best first (the console's assign list
    uses it too, so what it shows is what routing would decide)."""
    engineers = tx.all("select * from engineers order by id")
    loads = {
        r["engineer_id"]: r["n"]
        for r in tx.all(
            "select engineer_id, count(*)::int as n from tickets where engineer_id is not null"
            f" and {OPEN} group by engineer_id"
        )
    }
    a = (
        tx.one(
            "select asset_class, lat, lon, criticality from assets where asset = %s",
            (row["asset"],),
        )
        or {}
    )
    fault = row["fault_mode"] if row["fault_mode"] != "unknown" else None
    job = routing.Job(row["site"], a.get("asset_class"), fault, a.get("lat"), a.get("lon"))
    scale_km = tx.options.distance_scale_km
    ranked = routing.score(job, engineers, loads, tx.now, scale_km=scale_km, exclude=exclude)
    return ranked, engineers, loads, job, a


def route(
    tx: Tx,
    row: Row,
    reason: str,
    *,
    exclude: frozenset[int] = frozenset(),
    supervisor_fallback: bool = False,
) -> Row:
    """Pick the engineer, store the explanation, assign. Leaves the ticket as is if nobody fits."""
    ranked, engineers, loads, job, a = rank(tx, row, exclude=exclude)
    explanation = routing.explain(ranked)
    if a.get("criticality") == "A":
        explanation += " Asset criticality A (predictive priority raised one step)."
    chosen = next((c.engineer_id for c in ranked if c.excluded is None), None)
    if chosen is None and supervisor_fallback:
        sup = [e for e in engineers if e["supervisor"] and e["available"]]
        # The supervisor whose zone covers the site, then one who knows the asset class.
        sup.sort(
            key=lambda e: (
                e["id"] in exclude,
                row["site"] not in e["zones"],
                job.asset_class not in e["asset_classes"],
                loads.get(e["id"], 0),
                e["id"],
            )
        )
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
    if to == "accepted" and row["acknowledged_at"] is None and actor.role == "engineer":
        # Only the engineer's own acceptance meets the response SLA, not a dispatcher's.
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
    if to == "resolved":
        cmms_hooks.resolved(tx, actor, new)  # parts issued, PM meter (ticketing.cmms)
    if to == "cancelled":
        cmms_hooks.cancelled(tx, actor, new)  # parts released
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
    # a repair names the fault found only if the engineer does (the detectors learn from it)
    confirmed = t.confirmed_fault_mode if t.resolution_code == "fixed" else None
    if t.resolution_code == "confirmed":
        confirmed = t.confirmed_fault_mode or row["fault_mode"]
    return {
        "resolved_at": tx.now,
        "resolution_code": t.resolution_code,
        "confirmed_fault_mode": confirmed,
        "failure_at": t.failure_at,
        "first_time_fix": row["visits"] <= 1 and row["first_time_fix"] is not False,
    }


def patch(tx: Tx, actor: Actor, row: Row, changes: dict[str, Any]) -> Row:
    changes = {k: v for k, v in changes.items() if v is not None and v != row[k]}
    if not changes:
        return row
    if "fault_mode" in changes and not lifecycle.is_open(row["state"]):
        raise Conflict(
            f"fault_mode: ticket {row['id']} is {row['state']}; only an open ticket's fault mode"
            " is corrected (a resolution has told the detectors already: reopen it first)",
            field="fault_mode",
        )
    if "priority" in changes:
        changes.update(priority_deadlines(tx, row, changes["priority"]))
    return update(tx, actor, row, changes, "updated", "ticket.updated")


def priority_deadlines(tx: Tx, row: Row, priority: str) -> dict[str, Any]:
    """Deadlines of a more urgent priority, counted from the ticket's opening, if earlier."""
    out: dict[str, Any] = {}
    resp, res = policies.deadlines(tx, priority, row["created_at"], row["site"])
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
