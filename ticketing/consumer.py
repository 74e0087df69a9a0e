"""MQTT side: anomaly events in (aiomqtt), and a paho publisher for ticket events out.

Anomalies are consumed with QoS 1 on a persistent session (stable client id), so events
sent while the service is down wait in the broker (up to its queue limit). A payload that
breaks the contract is kept in ``dead_letters`` with its reason and never retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiomqtt
import psycopg
from psycopg_pool import PoolTimeout

from forewarn import mqtt as fmqtt
from forewarn.contract import AnomalyEvent, decode, topics
from forewarn.errors import ContractError
from forewarn.settings import MqttSettings
from ticketing import intake
from ticketing.store import Actor, Store

log = logging.getLogger("ticketing.mqtt")
MQTT_ACTOR = Actor("mqtt-intake", "integration")


def dead_letter(store: Store, topic: str, payload: bytes, reason: str) -> None:
    store.run(
        lambda tx: tx.conn.execute(
            "insert into dead_letters (service, topic, payload, reason) values"
            " ('ticketing', %s, %s, %s)",
            (topic, payload, reason),
        )
    )


def _ingest_until_stored(store: Store, event: AnomalyEvent) -> dict[str, Any] | None:
    """Ingest, waiting out a database outage.

    The broker already counts the message as delivered (aiomqtt acknowledges on receipt), so
    while the database is away the only safe place for the event is here. Intake is
    idempotent on ``event_id``, so a retry after a commit whose answer was lost is a no-op.
    """
    delay = 0.5
    while True:
        try:
            return store.run(lambda tx: intake.ingest(tx, MQTT_ACTOR, event))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            log.warning(
                "database unavailable (%s); retrying anomaly %s in %.1f s",
                type(exc).__name__,
                event.event_id,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def handle(
    store: Store, topic: str, payload: bytes, max_bytes: int | None = None
) -> dict[str, Any] | None:
    """Decode and ingest one message; bad ones go to dead letters.

    ``max_bytes`` is the API's body limit: the same event is not refused over HTTP and
    accepted over MQTT, and a huge payload is refused before it is parsed.
    """
    try:
        if max_bytes is not None and len(payload) > max_bytes:
            raise ContractError(
                f"payload of {len(payload)} bytes is larger than the limit of {max_bytes}"
                " (ticketing.max_body_bytes)"
            )
        parsed = topics.parse(topic)
        event = decode(AnomalyEvent, payload)
        if (parsed.site, parsed.asset) != (event.site, event.asset):
            raise ContractError(
                f"topic names {parsed.site}/{parsed.asset} but payload {event.site}/{event.asset}"
            )
    except ContractError as exc:
        log.warning("dead letter from %s: %s", topic, exc.reason)
        dead_letter(store, topic, payload, exc.reason)
        return None
    try:
        return _ingest_until_stored(store, event)
    except Exception as exc:  # the broker has the message acknowledged: keep it, with why
        log.exception("anomaly %s from %s failed; kept in dead_letters", event.event_id, topic)
        dead_letter(store, topic, payload, f"intake failed: {type(exc).__name__}: {exc}"[:1000])
        return None


async def consume(
    store: Store,
    settings: MqttSettings,
    *,
    group: str | None = None,
    ident: str | None = None,
    ready: asyncio.Event | None = None,
    max_bytes: int | None = None,
) -> None:
    """Consume anomaly events until cancelled, reconnecting with backoff."""
    topic = topics.ANOMALY_FILTER if not group else topics.shared(group, topics.ANOMALY_FILTER)
    ident = ident or fmqtt.client_id(settings, "ticketing", unique=False)
    delay = 1.0
    while True:
        try:
            async with fmqtt.aio_client(settings, ident, clean_session=False) as client:
                await client.subscribe(topic, qos=1)
                delay = 1.0
                if ready is not None:
                    ready.set()
                async for message in client.messages:
                    payload = message.payload
                    body = payload if isinstance(payload, bytes) else str(payload).encode()
                    try:
                        await asyncio.to_thread(handle, store, message.topic.value, body, max_bytes)
                    except Exception:
                        log.exception("anomaly from %s failed", message.topic.value)
        except aiomqtt.MqttError as exc:
            log.warning("MQTT: %s; reconnecting in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def publisher_client(settings: MqttSettings) -> Any:
    """A paho client that connects in the background (the API never waits for the broker)."""
    client = fmqtt.paho_client(settings, fmqtt.client_id(settings, "ticketing-pub"))
    client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
    client.loop_start()
    return client
