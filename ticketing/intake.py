"""Anomaly events in, predictive tickets out.

The rule "one open predictive ticket per (asset, fault mode)" is the partial unique index
``tickets_one_open_predictive``; intake inserts with ``ON CONFLICT DO NOTHING`` against it,
so concurrent events for the same fault end in one ticket whatever the interleaving.
Event ids de-duplicate redeliveries (primary key of ``ticket_anomalies``).

An event that names its detector's alarm ``episode`` belongs to the ticket that episode's
earlier events went to: its news (a spike, an escalation, a revised fault mode) updates that
ticket, renaming it with the old and new fault mode in its history, and never opens a second
one. A new episode (after a clear) follows the rule above like any finding.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from forewarn.contract import AnomalyEvent
from ticketing import lifecycle, tickets
from ticketing.cmms.assets import priority_for as criticality_priority
from ticketing.errors import NotFound
from ticketing.lifecycle import OPEN
from ticketing.store import Actor, Row, Tx

SEVERITY_PRIORITY = {"critical": "P1", "warning": "P2", "info": "P2"}
UNKNOWN = "unknown"


def priority_for(ev: AnomalyEvent) -> str:
    """Critical findings are P1 (degraded); a limit reached within 4 h is P0 (will stop)."""
    p = SEVERITY_PRIORITY[ev.severity]
    if ev.time_to_limit_h is not None:
        if ev.time_to_limit_h <= 4:
            return "P0"
        if ev.time_to_limit_h <= 48:
            p = lifecycle.more_urgent(p, "P1")
    return p


def _describe(ev: AnomalyEvent) -> str:
    lines = [
        f"Detector {ev.detector.name} {ev.detector.version} (config {ev.detector.config_hash})"
        f" scored {ev.score:.3f} ({ev.severity}) at {ev.ts.isoformat()}."
    ]
    if ev.time_to_limit_h is not None:
        lines.append(f"Estimated time to limit: {ev.time_to_limit_h:.1f} h.")
    if ev.health is not None:  # usually at the bar already when an episode opens
        ahead = ev.time_to_threshold_h
        when = f", {ahead:.1f} h from the alarm bar at its trend" if ahead else ""
        lines.append(f"Health index: {ev.health:.2f} (1 healthy, 0 failed){when}.")
    if ev.contributors:
        top = sorted(ev.contributors, key=lambda c: -c.weight)[:5]
        lines.append("Top contributors: " + ", ".join(f"{c.metric} ({c.weight:.2f})" for c in top))
    return "\n".join(lines)


def _result(ev: AnomalyEvent, outcome: str, row: Row | None) -> dict[str, Any]:
    return {
        "event_id": ev.event_id,
        "outcome": outcome,
        "ticket_id": row["id"] if row else None,
        "priority": row["priority"] if row else None,
        "engineer_id": row["engineer_id"] if row else None,
    }


def _open_ticket(tx: Tx, asset: str, fault: str, *, lock: bool) -> Row | None:
    return tx.one(
        f"select * from tickets where asset = %s and fault_mode = %s and source = 'predictive'"
        f" and {OPEN}" + (" for update" if lock else ""),
        (asset, fault),
    )


def ingest(tx: Tx, actor: Actor, ev: AnomalyEvent) -> dict[str, Any]:
    """Record one anomaly event and open or update the predictive ticket it calls for.
    A site-scoped actor's event must name an asset of its sites (else 404, as if unknown)."""
    if actor.sites is not None:  # the event's site is the actor's; the asset must be too
        known = tx.one("select site from assets where asset = %s", (ev.asset,))
        if known is not None and not actor.sees(known["site"]):
            raise NotFound("asset", ev.asset)
    fault = ev.fault_mode or UNKNOWN
    fresh = tx.one(
        "insert into ticket_anomalies (event_id, asset, site, fault_mode, severity, score, ts,"
        " historical, received_at, outcome, payload, episode) values (%s, %s, %s, %s, %s, %s,"
        " %s, %s, %s, 'pending', %s, %s) on conflict (event_id) do nothing returning event_id",
        (
            ev.event_id,
            ev.asset,
            ev.site,
            fault,
            ev.severity,
            ev.score,
            ev.ts,
            ev.historical,
            tx.now,
            Jsonb(ev.model_dump(mode="json")),
            ev.episode,
        ),
    )
    if fresh is None:
        prior = tx.one("select ticket_id from ticket_anomalies where event_id = %s", (ev.event_id,))
        row = tickets.get(tx, prior["ticket_id"]) if prior and prior["ticket_id"] else None
        return _result(ev, "duplicate", row)

    def mark(outcome: str, row: Row | None) -> dict[str, Any]:
        tx.conn.execute(
            "update ticket_anomalies set outcome = %s, ticket_id = %s where event_id = %s",
            (outcome, row["id"] if row else None, ev.event_id),
        )
        return _result(ev, outcome, row)

    if ev.historical:  # backfilled conditions are over: evidence, never a new ticket
        return mark("historical", _open_ticket(tx, ev.asset, fault, lock=False))
    ours = _episode_ticket(tx, ev)
    if ev.state == "cleared":  # a cleared latch is evidence, never a new ticket
        if ours is None or not lifecycle.is_open(ours["state"]):
            ours = _open_ticket(tx, ev.asset, fault, lock=False)
        return mark("cleared", ours)

    tx.conn.execute(
        "insert into assets (asset, site, asset_class) values (%s, %s, %s)"
        " on conflict (asset) do nothing",
        (ev.asset, ev.site, ev.asset_class),
    )
    a = tickets.asset(tx, ev.asset)
    priority = criticality_priority(tx, ev.asset, priority_for(ev))  # A-critical: one up
    if ours is not None:
        return mark("evidence", _episode_update(tx, actor, ours, ev, fault, priority))
    merged = _merge_with_open(tx, actor, ev, fault, priority)
    if merged is not None:
        return mark("evidence", merged)
    for _ in range(5):
        title = f"{fault.replace('_', ' ')} suspected on {ev.asset}"
        row = tickets.insert(tx, a, "predictive", priority, fault, title, _describe(ev))
        if row is not None:
            mark("opened", row)
            row = tickets.after_open(tx, actor, row)
            return _result(ev, "opened", row)
        existing = _open_ticket(tx, ev.asset, fault, lock=True)
        if existing is not None:
            return mark("evidence", add_evidence(tx, actor, existing, ev, priority))
        # The open ticket was closed between our insert and select: try again.
    raise RuntimeError("could not settle the open predictive ticket after 5 attempts")


def _episode_ticket(tx: Tx, ev: AnomalyEvent) -> Row | None:
    """The ticket earlier events of this event's episode went to (locked), if any."""
    if ev.episode is None:
        return None
    return tx.one(
        "select t.* from ticket_anomalies a join tickets t on t.id = a.ticket_id"
        " where a.asset = %s and a.episode = %s and a.event_id <> %s"
        " order by a.received_at desc limit 1 for update of t",
        (ev.asset, ev.episode, ev.event_id),
    )


def _episode_update(
    tx: Tx, actor: Actor, row: Row, ev: AnomalyEvent, fault: str, priority: str
) -> Row:
    """Apply news of an episode to its ticket: a revised fault mode renames it (unless a
    person or another finding named it, or the news is older than what was applied), an
    escalation raises its priority, and the event is attached as evidence. A ticket already
    resolved takes the event as a record only: the episode was dealt with."""
    if not lifecycle.is_open(row["state"]):
        return row
    prior = tx.one(
        "select fault_mode, (payload->>'revision')::bigint as revision from ticket_anomalies"
        " where asset = %s and episode = %s and event_id <> %s and ticket_id = %s"
        " order by (payload->>'revision')::bigint desc nulls last, received_at desc limit 1",
        (ev.asset, ev.episode, ev.event_id, row["id"]),
    )
    stale = (
        prior is not None
        and prior["revision"] is not None
        and (ev.revision is None or ev.revision < prior["revision"])
    )
    named_by_us = prior is None or row["fault_mode"] in (prior["fault_mode"], UNKNOWN)
    if fault not in (UNKNOWN, row["fault_mode"]) and named_by_us and not stale:
        note = f"anomaly {ev.event_id} revises the fault mode (episode {ev.episode})"
        row = _name_fault(tx, actor, row, ev, fault, "fault_mode_revised", note) or row
    return add_evidence(tx, actor, row, ev, priority)


def _name_fault(
    tx: Tx, actor: Actor, row: Row, ev: AnomalyEvent, fault: str, action: str, note: str
) -> Row | None:
    """Rename a ticket's fault mode (and title); None when another open ticket of that
    fault already exists (the unique index wins, inside a savepoint)."""
    try:
        with tx.conn.transaction():
            return tickets.update(
                tx,
                actor,
                row,
                {
                    "fault_mode": fault,
                    "title": f"{fault.replace('_', ' ')} suspected on {ev.asset}",
                },
                action,
                "ticket.updated",
                note=note,
            )
    except psycopg.errors.UniqueViolation:
        return None


def _merge_with_open(
    tx: Tx, actor: Actor, ev: AnomalyEvent, fault: str, priority: str
) -> Row | None:
    """Keep one ticket per fault when detectors are vague: a finding without a fault mode
    joins the asset's open predictive ticket; a specific one names the fault of an open
    'unknown' ticket (if that fault has no ticket of its own). None: no merge, insert."""
    if fault == UNKNOWN:
        row = tx.one(
            f"select * from tickets where asset = %s and source = 'predictive' and {OPEN}"
            " order by fault_mode = 'unknown', created_at, id limit 1 for update",
            (ev.asset,),
        )
        return add_evidence(tx, actor, row, ev, priority) if row else None
    if _open_ticket(tx, ev.asset, fault, lock=False) is not None:
        return None  # the insert below conflicts with it and attaches the evidence
    vague = _open_ticket(tx, ev.asset, UNKNOWN, lock=True)
    if vague is None:
        return None
    note = f"anomaly {ev.event_id} names the fault"
    named = _name_fault(tx, actor, vague, ev, fault, "fault_mode_identified", note)
    return None if named is None else add_evidence(tx, actor, named, ev, priority)


def add_evidence(tx: Tx, actor: Actor, row: Row, ev: AnomalyEvent, priority: str) -> Row:
    changes: dict[str, Any] = {}
    if lifecycle.more_urgent(priority, row["priority"]) != row["priority"]:
        changes["priority"] = priority
        changes.update(tickets.priority_deadlines(tx, row, priority))
    return tickets.update(
        tx,
        actor,
        row,
        changes,
        "evidence_attached",
        "ticket.evidence",
        note=f"anomaly {ev.event_id} ({ev.severity}, score {ev.score:.3f}"
        + "".join(f", {u}" for u in ev.update or ())
        + ")",
    )
