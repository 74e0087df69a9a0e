"""Which ticket events reach which people: the ``Tx.emit`` hook.

It runs inside the ticket's transaction (so the outbox rows commit with the change) but in
a savepoint: a broken channel or template is logged and never fails the ticket change.
"""

from __future__ import annotations

import logging
from typing import Any

from forewarn.contract import StockLow
from ticketing import policies
from ticketing.notifications import oncall, outbox
from ticketing.store import SYSTEM, Row, Tx

log = logging.getLogger("ticketing.notifications")
CLOSING = frozenset({"resolved", "closed", "cancelled"})


HANDLED = frozenset(
    {
        "ticket.assigned",
        "sla.warning",
        "sla.breached",
        "ticket.customer_reply",
        "ticket.state_changed",
        "stock.low",
    }
)


def on_event(
    tx: Tx, event_type: str, site: str, ticket_id: int | None, body: dict[str, Any]
) -> None:
    if event_type not in HANDLED:
        return  # evidence, comments, ...: no person to tell, and no savepoint to pay for
    try:
        with tx.conn.transaction():  # a savepoint
            _dispatch(tx, event_type, ticket_id, body)
    except Exception:
        log.exception("queueing notifications for %s failed; the change stands", event_type)


def _ticket(tx: Tx, ticket_id: int | None) -> Row | None:
    if ticket_id is None:
        return None
    return tx.one("select * from tickets where id = %s", (ticket_id,))


def _dispatch(tx: Tx, event_type: str, ticket_id: int | None, body: dict[str, Any]) -> None:
    if event_type == "stock.low":  # the contract's StockLow: no ticket; the store's site's
        # dispatchers (and those of every site) buy; a shared store (site null) tells them all
        low = StockLow.model_validate(body)
        outbox.to_role(tx, "dispatcher", low.site, "low_stock", low.model_dump())
        return
    t = _ticket(tx, ticket_id)
    if t is None:
        return
    url = tx.options.public_url
    changes = body.get("changes") or {}
    if event_type == "ticket.assigned":
        note = str(changes.get("note") or "")
        if note.startswith("routing (escalation)"):
            new_due = policies.deadlines(tx, t["priority"], tx.now, t["site"])[0]
            ctx = oncall.ctx(tx, t, url, new_due=new_due)
            outbox.to_engineer(tx, t["engineer_id"], "escalation", ctx, ticket_id=t["id"])
            outbox.to_role(tx, "supervisor", t["site"], "escalation", ctx, ticket_id=t["id"])
        else:
            ctx = oncall.ctx(tx, t, url, response_due=t["response_due"])
            outbox.to_engineer(tx, t["engineer_id"], "assigned", ctx, ticket_id=t["id"])
    elif event_type in ("sla.warning", "sla.breached"):
        which = "response" if "response_warned_at" in changes else "resolution"
        if event_type == "sla.breached":
            which = next(
                (w for w in ("response", "resolution") if f"{w}_breached_at" in changes),
                "escalation",
            )
        due = t.get(f"{which}_due") or tx.now
        ctx = oncall.ctx(tx, t, url, which=which, due=due)
        if event_type == "sla.warning":
            outbox.to_engineer(tx, t["engineer_id"], "sla_warning", ctx, ticket_id=t["id"])
        else:
            outbox.to_role(tx, "dispatcher", t["site"], "breach", ctx, ticket_id=t["id"])
            oncall.start_chain(tx, t, f"{which} breach", which, due)
    elif event_type == "ticket.customer_reply":
        ctx = oncall.ctx(tx, t, url, message=body.get("message", ""))
        outbox.to_engineer(tx, t["engineer_id"], "customer_reply", ctx, ticket_id=t["id"])
    elif event_type == "ticket.state_changed":
        state = changes.get("state")
        if state == "accepted" or state in CLOSING:
            oncall.stop_for_ticket(tx, SYSTEM, t["id"], f"ticket {state} by {body.get('actor')}")
