"""Database access: a connection pool, transactions that carry their audit and events.

Every change goes through :meth:`Store.run`, whose transaction appends hash-chained audit
events (``Tx.audit``) and queues outgoing events (``Tx.emit``): webhooks are queued in the
same transaction (an outbox, so none is lost) and MQTT messages go out after the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, get_args

import psycopg
import psycopg.sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from forewarn.contract import StockLow, TicketEvent, topics
from forewarn.contract.tickets import WebhookEventType
from ticketing.clock import Clock
from ticketing.errors import AuditBroken

log = logging.getLogger("ticketing")
GENESIS = "0" * 64
AUDIT_LOCK = 7_040_001  # advisory lock that serializes appends to the chain
T = TypeVar("T")
Row = dict[str, Any]
Query = str | psycopg.sql.SQL | psycopg.sql.Composed


@dataclass(frozen=True)
class Actor:
    """Who acts: a token's holder, or the service itself (scheduler, intake)."""

    name: str
    role: str
    token_id: int | None = None
    engineer_id: int | None = None
    sites: tuple[str, ...] | None = None  # a token's site scope; None: every site

    def sees(self, site: str) -> bool:
        """Whether the actor's site scope covers ``site`` (unscoped actors see all)."""
        return self.sites is None or site in self.sites


SYSTEM = Actor("system", "system")
EVENT_TYPES = frozenset(get_args(WebhookEventType))


@dataclass
class Emitted:
    event_type: str
    site: str
    ticket_id: int | None
    payload: dict[str, Any]
    topic: str | None = None  # where ``event`` goes on MQTT
    event: TicketEvent | StockLow | None = None  # the contract's model of ``payload``
    mqtt: bool = True  # False: webhooks and hooks only (detector feedback goes by table)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)


def chain_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


EmitHook = Callable[["Tx", str, str, "int | None", dict[str, Any]], None]


@dataclass
class Options:
    """The configuration domain code reads inside a transaction (set when the app is built)."""

    distance_scale_km: float = 100.0  # routing: the distance whose score is 0
    labour_rate_per_h: float = 60.0  # CMMS: default labour cost of a time entry
    public_url: str = ""  # notifications: the base of links to the console
    emit_hooks: list[EmitHook] = field(default_factory=list)  # e.g. notifications' outbox


@dataclass
class Tx:
    conn: psycopg.Connection[Row]
    now: datetime
    emitted: list[Emitted] = field(default_factory=list)
    options: Options = field(default_factory=Options)

    def one(self, query: Query, params: Any = None) -> Row | None:
        return self.conn.execute(query, params).fetchone()

    def all(self, query: Query, params: Any = None) -> list[Row]:
        return self.conn.execute(query, params).fetchall()

    def audit(
        self,
        actor: Actor,
        action: str,
        entity: str,
        entity_id: object,
        before: Any = None,
        after: Any = None,
    ) -> int:
        """Append one event to the chain; returns its sequence number."""
        self.conn.execute("select pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
        last = self.one("select seq, hash from audit_events order by seq desc limit 1")
        seq = (last["seq"] + 1) if last else 1
        prev = last["hash"] if last else GENESIS
        body = canonical(
            {
                "seq": seq,
                "at": self.now,
                "actor": actor.name,
                "role": actor.role,
                "action": action,
                "entity": entity,
                "entity_id": str(entity_id),
                "before": before,
                "after": after,
            }
        )
        self.conn.execute(
            "insert into audit_events (seq, at, actor, role, action, entity, entity_id, body,"
            " prev_hash, hash) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                seq,
                self.now,
                actor.name,
                actor.role,
                action,
                entity,
                str(entity_id),
                body,
                prev,
                chain_hash(prev, body),
            ),
        )
        return seq

    def emit(
        self,
        event_type: str,
        site: str,
        ticket_id: int | None,
        payload: dict[str, Any],
        *,
        mqtt: bool = True,
    ) -> None:
        """Queue webhooks now (same transaction) and an MQTT message after commit.

        Only the contract's event types may be emitted (``WebhookEventType``), and what goes
        on MQTT is built here as its contract model (``StockLow``, else ``TicketEvent``), so
        a payload the contract refuses fails the change in tests, not a subscriber.
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"{event_type!r} is not in forewarn.contract's WebhookEventType")
        body = {"event": event_type, "at": self.now.isoformat(), **payload}
        event: TicketEvent | StockLow | None = None
        topic = None
        if mqtt and event_type == "stock.low":
            event = StockLow.model_validate(body, strict=True)
            topic = topics.stock_low(event.site)
        elif mqtt and ticket_id is not None:
            event = TicketEvent.model_validate(body, strict=True)
            topic = topics.ticket_event(site, str(ticket_id))
        self.conn.execute(
            "insert into webhook_deliveries (webhook_id, event_type, payload, next_attempt_at,"
            " created_at) select id, %s, %s, %s, %s from webhooks where active and"
            " (%s = any(event_types) or '*' = any(event_types))",
            (event_type, Jsonb(json.loads(canonical(body))), self.now, self.now, event_type),
        )
        self.emitted.append(Emitted(event_type, site, ticket_id, body, topic, event, mqtt))
        for hook in self.options.emit_hooks:  # e.g. notifications' outbox
            hook(self, event_type, site, ticket_id, body)


_RETRY = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class Store:
    def __init__(
        self,
        dsn: str,
        clock: Clock,
        *,
        min_size: int = 1,
        max_size: int = 8,
        options: Options | None = None,
    ) -> None:
        self.clock = clock
        self.dsn = dsn
        self.sizes = (min_size, max_size)
        self.pool = self._new_pool()
        self.listeners: list[Callable[[list[Emitted]], None]] = []
        self.options = options or Options()

    def _new_pool(self) -> ConnectionPool[psycopg.Connection[Row]]:
        return ConnectionPool(
            self.dsn,
            min_size=self.sizes[0],
            max_size=self.sizes[1],
            kwargs={"row_factory": dict_row},
            open=False,
            name="ticketing",
        )

    def open(self) -> None:
        """Open the pool (again, after a close: an app may be started more than once)."""
        if self.pool.closed and self.pool._opened:
            self.pool = self._new_pool()
        self.pool.open(wait=True, timeout=10)

    def close(self) -> None:
        self.pool.close()

    def run(self, fn: Callable[[Tx], T], *, attempts: int = 5) -> T:
        """Run ``fn`` in one transaction (retried on deadlock), then publish what it emitted."""
        retrying = Retrying(
            retry=retry_if_exception_type(_RETRY),
            stop=stop_after_attempt(attempts),
            wait=wait_incrementing(start=0.01, increment=0.01),
            reraise=True,
        )
        result, tx = retrying(self._transaction, fn)
        for listener in self.listeners:
            try:
                listener(tx.emitted)
            except Exception:  # a publisher failure must not fail a committed change
                log.exception("event listener failed")
        return result

    def _transaction(self, fn: Callable[[Tx], T]) -> tuple[T, Tx]:
        with self.pool.connection() as conn, conn.transaction():
            tx = Tx(conn, self.clock.now(), options=self.options)
            result = fn(tx)
        return result, tx

    def read(self, fn: Callable[[Tx], T]) -> T:
        with self.pool.connection() as conn:
            return fn(Tx(conn, self.clock.now(), options=self.options))


def verify_chain(conn: psycopg.Connection[Any]) -> int:
    """Recompute the chain; return the number of events, raise AuditBroken where it breaks."""
    prev = GENESIS
    count = 0
    # A server-side cursor streams the chain (it needs a transaction, so not in autocommit).
    cur: Any = (
        conn.cursor(row_factory=dict_row)
        if conn.autocommit
        else conn.cursor(name="audit_verify", row_factory=dict_row)
    )
    cur.execute(
        "select seq, at, actor, role, action, entity, entity_id, body, prev_hash, hash"
        " from audit_events order by seq"
    )
    expected = 1
    for row in cur:
        seq = row["seq"]
        if seq != expected:
            raise AuditBroken(expected, f"event {expected} is missing (next is {seq})")
        if row["prev_hash"] != prev:
            raise AuditBroken(seq, "prev_hash does not match the previous event's hash")
        if chain_hash(prev, row["body"]) != row["hash"]:
            raise AuditBroken(seq, "content does not match its hash (body changed)")
        try:
            body = json.loads(row["body"])
        except json.JSONDecodeError:
            raise AuditBroken(seq, "body is not JSON") from None
        for col in ("actor", "role", "action", "entity", "entity_id"):
            if str(body.get(col)) != str(row[col]):
                raise AuditBroken(seq, f"column {col!r} differs from the hashed event")
        if body.get("seq") != seq or datetime.fromisoformat(body["at"]) != row["at"]:
            raise AuditBroken(seq, "seq or time differs from the hashed event")
        prev = row["hash"]
        count += 1
        expected += 1
    return count
