"""Job plans: an ordered checklist (pass/fail or a reading), required skills, estimated
duration and parts, per fault mode or preventive plan. Attaching one to a ticket copies its
steps onto the ticket and reserves its parts at once, so the dispatcher sees whether they
are in stock; a revised fault mode swaps the plan (releasing the old reservations); a
failed step can open a follow-up ticket."""

from __future__ import annotations

from typing import Any

from ticketing import tickets
from ticketing.cmms import parts
from ticketing.cmms.assets import Unknown
from ticketing.errors import Conflict, Invalid, NotFound
from ticketing.schemas import TicketCreate
from ticketing.store import Actor, Row, Tx


def create(tx: Tx, actor: Actor, data: dict[str, Any]) -> Row:
    fm = data.get("fault_mode")
    if fm and tx.one("select 1 from job_plans where fault_mode = %s", (fm,)):
        raise Conflict(f"fault_mode: a job plan for {fm!r} exists already", field="fault_mode")
    for i, p in enumerate(data.get("parts", [])):
        if not tx.one("select 1 from parts where id = %s", (p["part_id"],)):
            raise Unknown(f"parts.{i}.part_id: unknown part {p['part_id']}", field="part_id")
    row = tx.one(
        "insert into job_plans (name, fault_mode, skills, est_minutes, created_at)"
        " values (%s, %s, %s, %s, %s) returning id",
        (data["name"], fm, data.get("skills", []), data["est_minutes"], tx.now),
    )
    assert row is not None
    for pos, step in enumerate(data.get("steps", []), start=1):
        tx.conn.execute(
            "insert into job_plan_steps (job_plan_id, position, text, kind) values (%s, %s, %s, %s)",
            (row["id"], pos, step["text"], step.get("kind", "pass_fail")),
        )
    for p in data.get("parts", []):
        tx.conn.execute(
            "insert into job_plan_parts (job_plan_id, part_id, qty) values (%s, %s, %s)",
            (row["id"], p["part_id"], p["qty"]),
        )
    tx.audit(actor, "job_plan_created", "job_plan", row["id"], None, data)
    return get(tx, row["id"])


def get(tx: Tx, job_plan_id: int) -> Row:
    row = tx.one("select * from job_plans where id = %s", (job_plan_id,))
    if row is None:
        raise NotFound("job plan", job_plan_id)
    return {
        **row,
        "steps": tx.all(
            "select position, text, kind from job_plan_steps where job_plan_id = %s"
            " order by position",
            (job_plan_id,),
        ),
        "parts": tx.all(
            "select part_id, qty from job_plan_parts where job_plan_id = %s order by part_id",
            (job_plan_id,),
        ),
    }


def listing(tx: Tx) -> list[Row]:
    return [get(tx, r["id"]) for r in tx.all("select id from job_plans order by id")]


def attach(tx: Tx, actor: Actor, ticket: Row, job_plan_id: int) -> None:
    """Copy the plan's steps onto the ticket and reserve its parts (short ones recorded)."""
    plan = get(tx, job_plan_id)
    detach(tx, actor, ticket)
    tx.conn.execute(
        "insert into ticket_job_plans (ticket_id, job_plan_id, attached_at) values (%s, %s, %s)",
        (ticket["id"], job_plan_id, tx.now),
    )
    for s in plan["steps"]:
        tx.conn.execute(
            "insert into ticket_steps (ticket_id, position, text, kind) values (%s, %s, %s, %s)",
            (ticket["id"], s["position"], s["text"], s["kind"]),
        )
    tx.audit(
        actor,
        "job_plan_attached",
        "ticket",
        ticket["id"],
        None,
        {"job_plan_id": job_plan_id, "name": plan["name"], "steps": len(plan["steps"])},
    )
    for p in plan["parts"]:
        parts.reserve(tx, actor, ticket, p["part_id"], p["qty"], allow_short=True)


def detach(tx: Tx, actor: Actor, ticket: Row) -> None:
    old = tx.one("select job_plan_id from ticket_job_plans where ticket_id = %s", (ticket["id"],))
    if old is None:
        return
    parts.release(tx, actor, ticket)
    tx.conn.execute(
        "delete from ticket_steps where ticket_id = %s and done_at is null", (ticket["id"],)
    )
    done = tx.one("select 1 from ticket_steps where ticket_id = %s limit 1", (ticket["id"],))
    if done:  # keep what was recorded, out of the way of the new plan's positions
        tx.conn.execute(
            "update ticket_steps set position = -position - 1000 * id where ticket_id = %s",
            (ticket["id"],),
        )
    tx.conn.execute("delete from ticket_job_plans where ticket_id = %s", (ticket["id"],))
    tx.audit(actor, "job_plan_detached", "ticket", ticket["id"], old, None)


def for_fault(tx: Tx, fault_mode: str) -> int | None:
    row = tx.one("select id from job_plans where fault_mode = %s", (fault_mode,))
    return int(row["id"]) if row else None


def work(tx: Tx, ticket: Row) -> dict[str, Any]:
    """What the engineer works from: the plan, its checklist and the parts."""
    link = tx.one("select job_plan_id from ticket_job_plans where ticket_id = %s", (ticket["id"],))
    return {
        "ticket_id": ticket["id"],
        "job_plan": get(tx, link["job_plan_id"]) if link else None,
        "steps": tx.all(
            "select position, text, kind, result, reading, note, done_at, done_by,"
            " followup_ticket_id from ticket_steps where ticket_id = %s and position > 0"
            " order by position",
            (ticket["id"],),
        ),
        "parts": parts.for_ticket(tx, ticket["id"]),
    }


def record_step(
    tx: Tx, actor: Actor, ticket: Row, position: int, data: dict[str, Any]
) -> dict[str, Any]:
    step = tx.one(
        "select * from ticket_steps where ticket_id = %s and position = %s for update",
        (ticket["id"], position),
    )
    if step is None:
        raise NotFound("checklist step", f"{ticket['id']}/{position}")
    if step["kind"] == "reading" and data.get("reading") is None:
        raise Invalid("reading: this step needs a reading", field="reading")
    if data.get("follow_up") and data["result"] != "fail":
        raise Invalid("follow_up: only a failed step opens a follow-up", field="follow_up")
    follow = step["followup_ticket_id"]
    if data.get("follow_up") and follow is None:
        new, _ = tickets.create(
            tx,
            actor,
            TicketCreate(
                asset=ticket["asset"],
                source="manual",
                priority=ticket["priority"],
                title=f"Follow-up of #{ticket['id']}: step {position} failed"[:200],
                description=f"Checklist step {position} ({step['text']}) failed"
                + (f": {data['note']}" if data.get("note") else "."),
            ),
        )
        follow = new["id"]
    tx.conn.execute(
        "update ticket_steps set result = %s, reading = %s, note = %s, done_at = %s,"
        " done_by = %s, followup_ticket_id = %s where id = %s",
        (
            data["result"],
            data.get("reading"),
            data.get("note"),
            tx.now,
            actor.name,
            follow,
            step["id"],
        ),
    )
    after = {
        "position": position,
        "result": data["result"],
        "reading": data.get("reading"),
        "followup_ticket_id": follow,
    }
    tx.audit(actor, "step_recorded", "ticket", ticket["id"], None, after)
    return work(tx, ticket)
