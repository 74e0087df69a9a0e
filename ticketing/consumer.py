"""MQTT side: anomaly events in (paho, manual ack), and a paho publisher for ticket events out.

Intake is at-least-once: anomalies are consumed with QoS 1 on a persistent session (stable
client id) and a message is acknowledged only after its ticket or evidence (or its dead
letter) is committed. Events sent while the service is down wait in the broker (up to its
``max_queued_messages``); a crash leaves every unacknowledged event with the broker, which
redelivers it to the next session. Intake is idempotent on the detector's deterministic
``event_id`` (primary key of ``ticket_anomalies``, in the same transaction as the ticket),
so a redelivered event is a no-op: one ticket or one evidence row per event, whatever the
crash. A payload that breaks the contract is kept in ``dead_letters`` with its reason.

(The consumer used aiomqtt, which acknowledges on receipt: a SIGKILL lost every event it
had buffered, 141 of 200 in one red-team run.)
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import paho.mqtt.client as paho
import psycopg
from psycopg_pool import PoolTimeout
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from forewarn import mqtt as fmqtt
from forewarn.contract import decode_message, topics
from forewarn.errors import ContractError
from forewarn.settings import MqttSettings
from ticketing import intake
from ticketing.store import Actor, Store

log = logging.getLogger("ticketing.mqtt")
MQTT_ACTOR = Actor("mqtt-intake", "integration")
TRANSIENT = (psycopg.OperationalError, PoolTimeout)
T = TypeVar("T")


class Abandoned(Exception):
    """The service is stopping while the database is away: leave the message unacknowledged."""


def dead_letter(store: Store, topic: str, payload: bytes, reason: str) -> None:
    store.run(
        lambda tx: tx.conn.execute(
            "insert into dead_letters (service, topic, payload, reason) values"
            " ('ticketing', %s, %s, %s)",
            (topic, payload, reason),
        )
    )


def _until_stored(fn: Callable[[], T], what: str, stopping: threading.Event | None) -> T:
    """Run ``fn``, waiting out a database outage (the message stays unacknowledged meanwhile).

    Every write here is idempotent on ``event_id``, so a retry after a commit whose answer was
    lost is a no-op. While stopping, give up (:class:`Abandoned`): the broker redelivers.
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "database unavailable (%s); retrying %s in %.1f s", type(exc).__name__, what, delay
        )

    def pause(seconds: float) -> None:  # cut short when the service stops
        if stopping is not None:
            stopping.wait(seconds)
        else:
            time.sleep(seconds)

    retrying = Retrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential(multiplier=0.5, max=10.0),  # 0.5 s, doubled, at most 10 s
        stop=lambda state: stopping is not None and stopping.is_set(),
        sleep=pause,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except TRANSIENT as exc:  # only raised once stopping: leave it to the broker
        raise Abandoned(what) from exc


def handle(
    store: Store,
    topic: str,
    payload: bytes,
    max_bytes: int | None = None,
    stopping: threading.Event | None = None,
) -> dict[str, Any] | None:
    """Decode and ingest one message; bad ones go to dead letters. Returns once committed.

    ``max_bytes`` is the API's body limit: the same event is not refused over HTTP and
    accepted over MQTT, and a huge payload is refused before it is parsed.
    """
    try:
        event = decode_message(
            "anomaly", topic, payload, max_bytes, "ticketing.max_body_bytes"
        ).body
    except ContractError as exc:
        log.warning("dead letter from %s: %s", topic, exc.reason)
        reason = exc.reason
        _until_stored(lambda: dead_letter(store, topic, payload, reason), "a dead letter", stopping)
        return None
    try:
        return _until_stored(
            lambda: store.run(lambda tx: intake.ingest(tx, MQTT_ACTOR, event)),
            f"anomaly {event.event_id}",
            stopping,
        )
    except Abandoned:
        raise
    except Exception as exc:  # a bug or a constraint we did not foresee: keep it, with why
        log.exception("anomaly %s from %s failed; kept in dead_letters", event.event_id, topic)
        why = f"intake failed: {type(exc).__name__}: {exc}"[:1000]
        _until_stored(lambda: dead_letter(store, topic, payload, why), "a dead letter", stopping)
        return None


@dataclass(slots=True)
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    session: int  # the connection that delivered it: an ack on a later one would be wrong


class Consumer:
    """Anomaly intake: paho's network thread queues, one worker thread commits, then acks.

    Events are handled one at a time in arrival order (PUBACKs go out in the order MQTT
    3.1.1 requires); the broker holds the rest, at most its in-flight window unacknowledged.
    """

    def __init__(
        self,
        store: Store,
        settings: MqttSettings,
        *,
        group: str | None = None,
        ident: str | None = None,
        max_bytes: int | None = None,
        on_ready: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.topic = (
            topics.ANOMALY_FILTER if not group else topics.shared(group, topics.ANOMALY_FILTER)
        )
        self.ident = ident or fmqtt.client_id(settings, "ticketing", unique=False)
        self.max_bytes = max_bytes
        self.on_ready = on_ready
        self.inbox: queue.Queue[Message] = queue.Queue(maxsize=1000)
        self.stopping = threading.Event()
        self.session = 0
        self._lock = threading.Lock()
        self.client: paho.Client | None = None
        self._worker: threading.Thread | None = None

    # -- paho's network thread -----------------------------------------------------------
    def _on_connect(self, c: paho.Client, ud: Any, flags: Any, rc: Any, props: Any) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("MQTT: connection refused (%s); paho retries", rc)
            return
        with self._lock:
            self.session += 1
        c.subscribe(self.topic, qos=1)  # again after every reconnect
        log.info(
            "%s connected (session present: %s)", self.ident, getattr(flags, "session_present", "?")
        )

    def _on_subscribe(self, c: paho.Client, ud: Any, mid: int, codes: Any, props: Any) -> None:
        if any(getattr(rc, "is_failure", False) for rc in codes):
            log.error("the broker refused the subscription to %s: %s (check its ACL)",
                      self.topic, codes)  # fmt: skip
            return
        log.info("ticketing intake subscribed to %s", self.topic)
        if self.on_ready is not None:
            self.on_ready()

    def _on_disconnect(self, c: paho.Client, ud: Any, flags: Any, rc: Any, props: Any) -> None:
        with self._lock:
            self.session += 1  # what the old session delivered is redelivered: never ack it
        if not self.stopping.is_set():
            log.warning("MQTT: lost the broker (%s); reconnecting", rc)

    def _on_message(self, c: paho.Client, ud: Any, msg: paho.MQTTMessage) -> None:
        if self.stopping.is_set():
            return  # not acknowledged: redelivered to the next session
        self.inbox.put(Message(msg.mid, msg.qos, msg.topic, bytes(msg.payload), self.session))

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Consumer:
        """Connect in the background (paho retries until the broker answers) and consume."""
        client = fmqtt.paho_client(self.settings, self.ident, clean_session=False, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client
        self._worker = threading.Thread(target=self._work, name="ticketing-intake", daemon=True)
        self._worker.start()
        client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive_s)
        client.loop_start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the event in hand; whatever else was received stays with the broker."""
        self.stopping.set()
        if self._worker is not None:
            self._worker.join(timeout)
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def _work(self) -> None:
        while not self.stopping.is_set():
            try:
                m = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                handle(self.store, m.topic, m.payload, self.max_bytes, self.stopping)
            except Abandoned:
                return
            except Exception:  # never seen; unacknowledged, so the next session retries it
                log.exception("anomaly from %s failed; left for redelivery", m.topic)
                continue
            with self._lock:
                current = self.session
            if m.qos and m.session == current and self.client is not None:
                self.client.ack(m.mid, m.qos)


async def consume(
    store: Store,
    settings: MqttSettings,
    *,
    group: str | None = None,
    ident: str | None = None,
    ready: asyncio.Event | None = None,
    max_bytes: int | None = None,
) -> None:
    """Consume anomaly events until cancelled (the app's lifespan task)."""
    loop = asyncio.get_running_loop()
    consumer = Consumer(
        store,
        settings,
        group=group,
        ident=ident,
        max_bytes=max_bytes,
        on_ready=None if ready is None else lambda: loop.call_soon_threadsafe(ready.set),
    )
    consumer.start()
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(consumer.stop)


def publisher_client(settings: MqttSettings) -> Any:
    """A paho client that connects in the background (the API never waits for the broker)."""
    client = fmqtt.paho_client(settings, fmqtt.client_id(settings, "ticketing-pub"))
    client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
    client.loop_start()
    return client
