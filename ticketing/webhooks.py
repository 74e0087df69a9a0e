"""Webhook subscriptions: create, list, deactivate, and each one's delivery log.

Deliveries are queued by ``Tx.emit`` and sent by :class:`ticketing.notify.WebhookSender`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ticketing.errors import NotFound
from ticketing.store import Actor, Row, Tx


def create(tx: Tx, actor: Actor, url: str, event_types: Sequence[str], secret: str) -> Row:
    """Subscribe ``url``; audited without the secret."""
    row = tx.one(
        "insert into webhooks (url, event_types, secret) values (%s, %s, %s) returning *",
        (url, list(event_types), secret),
    )
    assert row is not None
    tx.audit(
        actor,
        "webhook_created",
        "webhook",
        row["id"],
        None,
        {"url": row["url"], "event_types": row["event_types"]},
    )
    return row


def listing(tx: Tx) -> list[Row]:
    """Every subscription, secrets blanked (they are shown once, at creation)."""
    return [{**r, "secret": None} for r in tx.all("select * from webhooks order by id")]


def deactivate(tx: Tx, actor: Actor, webhook_id: int) -> None:
    """Stop a subscription (kept for the delivery log); its queued deliveries fail, saying why."""
    row = tx.one(
        "update webhooks set active = false where id = %s and active returning id",
        (webhook_id,),
    )
    if row is None:
        raise NotFound("active webhook", webhook_id)
    tx.conn.execute(
        "update webhook_deliveries set status = 'failed', last_error = 'webhook deactivated'"
        " where webhook_id = %s and status = 'pending'",
        (webhook_id,),
    )
    tx.audit(
        actor, "webhook_deactivated", "webhook", webhook_id, {"active": True}, {"active": False}
    )


def deliveries(tx: Tx, webhook_id: int, limit: int) -> list[Row]:
    """The subscription's deliveries, newest first."""
    if tx.one("select 1 from webhooks where id = %s", (webhook_id,)) is None:
        raise NotFound("webhook", webhook_id)
    return tx.all(
        "select * from webhook_deliveries where webhook_id = %s order by id desc limit %s",
        (webhook_id, limit),
    )
