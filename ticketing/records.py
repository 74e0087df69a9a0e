"""Recording changes to a ticket: the audited update, the records attached to a ticket
(comments, attachments, sub-tasks) and the resolution fed back to the detectors."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from forewarn.contract import DetectorFeedback
from ticketing import lifecycle
from ticketing.errors import Conflict, NotFound
from ticketing.store import Actor, Row, Tx

SUMMARY = ("id", "asset", "site", "source", "priority", "fault_mode", "state", "engineer_id")


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
    if "fault_mode" in after and after["fault_mode"] != row["fault_mode"]:
        from ticketing.cmms import hooks

        hooks.fault_mode_changed(tx, actor, new, row["fault_mode"])
    tx.emit(
        event_type,
        new["site"],
        new["id"],
        {**summary(new), "action": action, "actor": actor.name, "changes": after},
    )
    return new


def guessed_fault_mode(tx: Tx, row: Row) -> str:
    """The fault mode the detectors named for the ticket: its fault mode before a person
    first corrected it (``PATCH /tickets/{id}`` with ``fault_mode``, audited as ``updated``),
    else its fault mode. The feedback sends this as ``fault_mode`` and the correction as
    ``confirmed_fault_mode`` (the default of a ``confirmed`` resolution), so the detectors see
    that their guess was wrong and remember the corrected one for its signature."""
    first = tx.one(
        "select (body::jsonb)->'before'->>'fault_mode' as fault_mode from audit_events"
        " where entity = 'ticket' and entity_id = %s and action = 'updated'"
        " and (body::jsonb)->'before' ? 'fault_mode' order by seq limit 1",
        (str(row["id"]),),
    )
    return str(first["fault_mode"]) if first else str(row["fault_mode"])


def feedback(tx: Tx, row: Row) -> None:
    """Tell the detectors what the engineer found: a row of ``detector_feedback``.

    The table is the one way feedback reaches the detectors (written in the resolution's
    transaction, applied once by the worker owning the asset; see forewarn.contract.tickets).
    The ``ticket.feedback`` webhook carries the same record to outside systems.
    """
    ids = [
        r["event_id"]
        for r in tx.all(
            "select event_id from ticket_anomalies where ticket_id = %s order by ts", (row["id"],)
        )
    ]
    fb = DetectorFeedback(
        ticket_id=row["id"],
        site=row["site"],
        asset=row["asset"],
        fault_mode=guessed_fault_mode(tx, row),
        resolution_code=row["resolution_code"],
        confirmed_fault_mode=row["confirmed_fault_mode"],
        event_ids=ids,
        opened_at=row["created_at"],
        resolved_at=row["resolved_at"],
    )
    tx.conn.execute(
        "insert into detector_feedback (ticket_id, site, asset, fault_mode, resolution_code,"
        " confirmed_fault_mode, event_ids, opened_at, resolved_at) values"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict (ticket_id) do update set"
        " resolution_code = excluded.resolution_code, confirmed_fault_mode ="
        " excluded.confirmed_fault_mode, event_ids = excluded.event_ids,"
        " resolved_at = excluded.resolved_at",
        (
            fb.ticket_id,
            fb.site,
            fb.asset,
            fb.fault_mode,
            fb.resolution_code,
            fb.confirmed_fault_mode,
            fb.event_ids,
            fb.opened_at,
            fb.resolved_at,
        ),
    )
    body = fb.model_dump(mode="json", exclude={"v"})
    tx.emit("ticket.feedback", fb.site, fb.ticket_id, body, mqtt=False)


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
        {**summary(row), "subtask": {"id": subtask_id}, "done": done, "actor": actor.name},
    )
    return new
