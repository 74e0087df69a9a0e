"""Delivering the outbox through Apprise: claim due rows under a lease, send, record.

At least once: a row is marked delivered only after Apprise reports success, so a crash
between the two sends it again; the lease keeps a second sender off the same rows. Every
attempt lands in the audit trail with the channel's label, never its URL (which may hold
passwords or tokens).
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import apprise

from ticketing.store import SYSTEM, Store, Tx

log = logging.getLogger("ticketing.notifications")


def redact(text: str, url: str) -> str:
    """Remove the URL and its credentials from an error text."""
    parts = urlsplit(url)
    secrets = [url, parts.password or "", parts.username or "", parts.query, parts.path]
    for s in sorted(filter(None, secrets), key=len, reverse=True):
        if len(s) >= 4:
            text = text.replace(s, "***")
    return text


class NotificationSender:
    def __init__(
        self,
        store: Store,
        *,
        max_attempts: int = 10,
        backoff_s: float = 30.0,
        max_backoff_s: float = 3600.0,
        batch: int = 20,
        lease_s: float = 120.0,
    ) -> None:
        self.store = store
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.batch = batch
        self.lease_s = lease_s

    def _claim(self, tx: Tx) -> list[dict[str, Any]]:
        rows = tx.all(
            "select o.id, o.event, o.ticket_id, o.title, o.body, o.attempts, o.channel_id,"
            " c.url, c.label, c.active from notification_outbox o"
            " join notification_channels c on c.id = o.channel_id"
            " where o.status = 'pending' and o.next_attempt_at <= %s"
            " order by o.next_attempt_at, o.id limit %s for update of o skip locked",
            (tx.now, self.batch),
        )
        if rows:
            tx.conn.execute(
                "update notification_outbox set next_attempt_at = %s where id = any(%s)",
                (tx.now + timedelta(seconds=self.lease_s), [r["id"] for r in rows]),
            )
        return rows

    def send(self, row: dict[str, Any]) -> str | None:
        """Send one message; None on success, else the (redacted) reason."""
        if not row["active"]:
            return "channel deactivated"
        a = apprise.Apprise()
        if not a.add(row["url"]):
            return "not an Apprise URL this server can use"
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = a.notify(body=row["body"], title=row["title"])
        if ok:
            return None
        lines = [ln.split(" - ", 2)[-1] for ln in captured.getvalue().splitlines() if ln]
        return redact("; ".join(lines) or "Apprise reported a failure", row["url"])[:500]

    def deliver_due(self) -> int:
        """Send what is due now; returns the number delivered."""
        delivered = 0
        for row in self.store.run(self._claim):
            try:
                error = self.send(row)
            except Exception as exc:  # a plugin bug must not stop the other rows
                error = redact(f"{type(exc).__name__}: {exc}", row["url"])[:500]
            delivered += error is None
            self.store.run(functools.partial(self._record, row=row, error=error))
        return delivered

    def _record(self, tx: Tx, row: dict[str, Any], error: str | None) -> None:
        attempts = row["attempts"] + 1
        if error is None:
            status, nxt, action = "delivered", tx.now, "notification_sent"
        elif attempts >= self.max_attempts:
            status, nxt, action = "failed", tx.now, "notification_failed"
        else:
            status, action = "pending", "notification_retry"
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempts - 1))
            nxt = tx.now + timedelta(seconds=delay)
        tx.conn.execute(
            "update notification_outbox set status = %s, attempts = %s, next_attempt_at = %s,"
            " last_error = %s, delivered_at = %s where id = %s and status = 'pending'",
            (status, attempts, nxt, error, tx.now if error is None else None, row["id"]),
        )
        entity, entity_id = (
            ("ticket", row["ticket_id"]) if row["ticket_id"] else ("notification", row["id"])
        )
        tx.audit(
            SYSTEM,
            action,
            entity,
            entity_id,
            None,
            {
                "outbox": row["id"],
                "event": row["event"],
                "channel": row["channel_id"],
                "label": row["label"],
                "attempt": attempts,
                "error": error,
            },
        )
