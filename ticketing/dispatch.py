"""An engineer declines a job: it goes back to routing without them (and without anyone who
declined it before); when nobody else fits it waits, unassigned, for a dispatcher."""

from __future__ import annotations

import json

from ticketing import tickets as T
from ticketing.errors import Conflict, Forbidden
from ticketing.records import update
from ticketing.store import Actor, Row, Tx


def decliners(tx: Tx, ticket_id: int) -> frozenset[int]:
    rows = tx.all(
        "select body from audit_events where entity = 'ticket' and entity_id = %s"
        " and action = 'declined'",
        (str(ticket_id),),
    )
    out = {(json.loads(r["body"]).get("before") or {}).get("engineer_id") for r in rows}
    return frozenset(i for i in out if isinstance(i, int))


def decline(tx: Tx, actor: Actor, row: Row, reason: str) -> Row:
    if actor.role != "engineer" or row["engineer_id"] != actor.engineer_id:
        raise Forbidden("only the engineer the job is assigned to can decline it")
    if row["state"] != "assigned":
        raise Conflict(
            f"ticket {row['id']} is {row['state']}; only a job not yet accepted can be declined"
            " (ask a dispatcher to reassign it)",
            state=row["state"],
        )
    new = update(
        tx,
        actor,
        row,
        {"state": "new", "engineer_id": None},
        "declined",
        "ticket.state_changed",
        note=reason or "declined",
    )
    return T.route(tx, new, "declined", exclude=decliners(tx, row["id"]) | {row["engineer_id"]})
