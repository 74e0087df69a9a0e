"""Where ticket life meets maintenance work: called by ``ticketing.tickets`` and
``ticketing.records`` inside the ticket's own transaction, so a job plan, its reservations
and the ticket commit (or fail) together."""

from __future__ import annotations

from ticketing.store import Actor, Row, Tx


def opened(tx: Tx, actor: Actor, row: Row) -> None:
    """A P0 ticket starts a downtime; a predictive ticket gets the job plan of its fault mode (and reserves its parts)."""
    from ticketing.cmms import jobs, labour

    labour.ticket_opened(tx, actor, row)
    if row["source"] == "predictive":
        plan = jobs.for_fault(tx, row["fault_mode"])
        if plan is not None:
            jobs.attach(tx, actor, row, plan)


def pm_ticket_opened(tx: Tx, actor: Actor, row: Row, plan: Row) -> None:
    """A ticket a preventive plan opened gets the plan's job plan."""
    from ticketing.cmms import jobs

    if plan.get("job_plan_id"):
        jobs.attach(tx, actor, row, plan["job_plan_id"])


def fault_mode_changed(tx: Tx, actor: Actor, row: Row, old: str) -> None:
    """A revised fault mode swaps the job plan (the old one's parts are released)."""
    from ticketing.cmms import jobs

    if row["source"] != "predictive":
        return
    plan = jobs.for_fault(tx, row["fault_mode"])
    if plan is not None:
        jobs.attach(tx, actor, row, plan)
    elif jobs.for_fault(tx, old) is not None:
        jobs.detach(tx, actor, row)


def resolved(tx: Tx, actor: Actor, row: Row) -> None:
    """A ticket was resolved: parts issued, PM meter remembered, its downtime ended."""
    from ticketing.cmms import labour, parts, pm

    parts.issue(tx, actor, row)
    pm.resolved(tx, row)
    labour.ticket_resolved(tx, actor, row)


def cancelled(tx: Tx, actor: Actor, row: Row) -> None:
    """A cancelled ticket gives its parts back."""
    from ticketing.cmms import parts

    parts.release(tx, actor, row)
