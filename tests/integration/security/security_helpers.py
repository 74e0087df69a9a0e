"""Hostile inputs and small helpers shared by the security tests."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from forewarn import mqtt
from forewarn.contract import topics, utc
from forewarn.settings import MqttSettings, Settings, load

# Classic SQL-injection strings. None has leading or trailing white space, so fields that
# strip it (titles, names) must still hand them back byte for byte.
INJECTIONS = [
    "'; DROP TABLE tickets; --",
    "' OR '1'='1",
    "1; SELECT pg_sleep(5)",
    '") OR 1=1 --',
    "' UNION SELECT token_hash, name, role FROM api_tokens --",
    "%' --",
    "_%",
    "\\'; DROP TABLE engineers; --",
    "\\",
    "'' OR ''=''",
    "$$; DROP TABLE assets; $$",
    "'||(SELECT pg_sleep(5))||'",
    "1/**/OR/**/1=1",
    "E'\\x27 OR 1=1 --",
    "\u2018 OR \u20181\u2019=\u20191",  # typographic quotes
    "\u02bc; DROP TABLE telemetry; --",  # modifier letter apostrophe
    "\uff07 OR 1=1 --",  # fullwidth apostrophe
]
# PostgreSQL text cannot hold NUL: these must be refused with a 4xx, never half-stored.
NUL_INJECTIONS = ["'\x00; DROP TABLE tickets; --", "a\x00' OR '1'='1"]

TABLES = [
    "assets",
    "telemetry",
    "dead_letters",
    "anomalies",
    "api_tokens",
    "engineers",
    "tickets",
    "comments",
    "subtasks",
    "attachments",
    "audit_events",
]


def uid() -> str:
    return secrets.token_hex(4)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tables_intact(db: psycopg.Connection[Any]) -> None:
    missing = [
        t for t in TABLES if db.execute("select to_regclass(%s)", (t,)).fetchone() == (None,)
    ]
    assert not missing, f"tables gone: {missing}"


def recent(minutes: int = 30) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(microsecond=0)


def telemetry(asset: str, seq: int = 0, n: int = 2, **extra: Any) -> dict[str, Any]:
    start = recent()
    samples = [
        {"ts": utc(start + timedelta(seconds=i)), "values": {"temp_c": 20.0 + i}} for i in range(n)
    ]
    return {"asset": asset, "seq": seq, "samples": samples, **extra}


def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    """QoS 1, waiting for every PUBACK, so the broker holds each message before we look."""
    s = MqttSettings(url=url)
    client = mqtt.paho_client(s, mqtt.client_id(s, f"hostile-{uid()}"))
    mqtt.connect_paho(client, s)
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def anomaly_event(site: str, asset: str, /, **kw: Any) -> dict[str, Any]:
    """A valid anomaly event (a fresh id each call) with ``kw`` replacing any field."""
    base: dict[str, Any] = {
        "event_id": f"ev-{secrets.token_hex(6)}",
        "site": site,
        "asset": asset,
        "ts": "2026-01-05T08:55:00Z",
        "detector": {"name": "hst", "version": "1", "config_hash": "abc"},
        "score": 0.9,
        "severity": "warning",
        "fault_mode": "bearing_wear",
    }
    return {**base, **kw}


def ingest_settings(dsn: str, broker_url: str, site: str, **extra: str) -> Settings:
    """Settings for an ingest worker that consumes only ``site``'s telemetry."""
    return load(
        path=os.devnull,
        environ={
            "FOREWARN_DATABASE__DSN": dsn,
            "FOREWARN_MQTT__URL": broker_url,
            "FOREWARN_MQTT__CLIENT_ID_PREFIX": site,
            "FOREWARN_INGEST__TOPIC_FILTER": f"{topics.ROOT}/{site}/+/telemetry",
            **extra,
        },
    )
