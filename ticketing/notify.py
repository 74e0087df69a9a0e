"""Outgoing notifications: signed webhooks from the outbox table, ticket events on MQTT.

Webhook deliveries are rows written in the same transaction as the change (an outbox), so
a crash loses none. A sender claims due rows, POSTs them with an HMAC-SHA256 signature of
the body (``X-Forewarn-Signature: sha256=<hex>``) and retries failures with exponential
backoff until ``webhook_max_attempts``; every attempt's outcome stays in the table.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from forewarn.contract import encode
from forewarn.redact import redact_text
from ticketing.errors import Invalid
from ticketing.store import Emitted, Store, Tx

log = logging.getLogger("ticketing.notify")
# httpx logs every request line (with the full URL) at INFO; the outcome of each delivery is
# in webhook_deliveries, so its lines are noise here. Redaction covers them when enabled.
if logging.getLogger("httpx").level == logging.NOTSET:
    logging.getLogger("httpx").setLevel(logging.WARNING)
ALLOW_SETTING = "ticketing.webhook_allow_private"


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def private_target(url: str) -> str | None:
    """Why ``url`` must not be called (its host is, or resolves to, a loopback, private,
    link-local, reserved or multicast address), or None for a public target.

    Webhooks run inside the network: without this an admin could probe internal hosts and
    read the answers in the delivery log (a port scanner), or reach cloud metadata."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"host {host!r} does not resolve"
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if _not_public(ipaddress.ip_address(address)):
            return f"host {host!r} is a non-public address ({address})"
    return None


def check_target(url: str, allow_private: bool) -> None:
    """422 naming the ``url`` field for a webhook target we refuse (see ``private_target``)."""
    if allow_private:
        return
    reason = private_target(url)
    if reason is not None:
        raise Invalid(
            f"url: {reason}; webhooks to loopback or private networks are refused"
            f" unless {ALLOW_SETTING} is true",
            field="url",
        )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(
        self,
        store: Store,
        *,
        max_attempts: int = 8,
        backoff_s: float = 5.0,
        timeout_s: float = 5.0,
        batch: int = 50,
        allow_private: bool = False,
    ) -> None:
        self.store = store
        self.allow_private = allow_private
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.batch = batch
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def open(self) -> None:
        if self.client.is_closed:
            self.client = httpx.Client(timeout=self.timeout_s, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def _claim(self, tx: Tx) -> list[dict[str, Any]]:
        rows = tx.all(
            "select d.id, d.event_type, d.payload, d.attempts, w.url, w.secret"
            " from webhook_deliveries d join webhooks w on w.id = d.webhook_id"
            " where d.status = 'pending' and w.active and d.next_attempt_at <= %s"
            " order by d.next_attempt_at, d.id limit %s for update of d skip locked",
            (tx.now, self.batch),
        )
        if rows:  # a lease, so a second sender does not send the same rows meanwhile
            tx.conn.execute(
                "update webhook_deliveries set next_attempt_at = %s where id = any(%s)",
                (tx.now + timedelta(seconds=self.timeout_s * 2 + 5), [r["id"] for r in rows]),
            )
        return rows

    def deliver_due(self) -> int:
        """Send what is due now; returns the number delivered."""
        delivered = 0
        for row in self.store.run(self._claim):
            body = json.dumps(row["payload"], sort_keys=True, separators=(",", ":")).encode()
            headers = {
                "content-type": "application/json",
                "x-forewarn-event": row["event_type"],
                "x-forewarn-delivery": str(row["id"]),
                "x-forewarn-signature": sign(row["secret"], body),
            }
            code: int | None = None
            error: str | None = None
            # Checked again at send time: a name may resolve elsewhere than at creation.
            refused = None if self.allow_private else private_target(row["url"])
            try:
                if refused is not None:
                    error = f"refused: {refused} ({ALLOW_SETTING} is false)"
                else:
                    resp = self.client.post(row["url"], content=body, headers=headers)
                    code = resp.status_code
                    if not 200 <= code < 300:
                        error = f"HTTP {code}"
            except httpx.HTTPError as exc:  # the message may quote the URL: redact it
                error = redact_text(f"{type(exc).__name__}: {exc}")[:500]
            ok = error is None
            delivered += ok
            self.store.run(functools.partial(self._record, row=row, code=code, error=error, ok=ok))
        return delivered

    def _record(
        self, tx: Tx, row: dict[str, Any], code: int | None, error: str | None, ok: bool
    ) -> None:
        attempts = row["attempts"] + 1
        if ok:
            status, nxt = "delivered", tx.now
        elif attempts >= self.max_attempts:
            status, nxt = "failed", tx.now
        else:
            status = "pending"
            nxt = tx.now + timedelta(seconds=self.backoff_s * 2 ** (attempts - 1))
        tx.conn.execute(
            "update webhook_deliveries set status = %s, attempts = %s, next_attempt_at = %s,"
            " last_status_code = %s, last_error = %s, delivered_at = %s where id = %s",
            (status, attempts, nxt, code, error, tx.now if ok else None, row["id"]),
        )


class MqttPublisher:
    """Publishes committed ticket and stock events; paho reconnects and queues QoS 1."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(self, emitted: list[Emitted]) -> None:
        for e in emitted:
            if e.event is not None and e.topic is not None:
                self.client.publish(e.topic, encode(e.event), qos=1)
