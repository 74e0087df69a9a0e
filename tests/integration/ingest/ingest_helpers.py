"""Helpers for ingest integration tests: payloads, a publisher, workers in and out of process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg

from forewarn import mqtt
from forewarn.contract import topics, utc
from forewarn.settings import MqttSettings, Settings, load

ROOT = Path(__file__).resolve().parents[3]


def batch(asset: str, seq: int, n: int, start: datetime, metrics: int = 2) -> bytes:
    """A valid TelemetryBatch with ``n`` samples one second apart from ``start``."""
    samples = [
        {
            "ts": utc(start + timedelta(seconds=i)),
            "values": {f"m{j}": float(seq * 1000 + i) + j / 10 for j in range(metrics)},
        }
        for i in range(n)
    ]
    return json.dumps(
        {"asset": asset, "seq": seq, "samples": samples, "asset_class": "pump"}
    ).encode()


def recent(minutes: int = 30) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(microsecond=0)


class Publisher:
    """A QoS 1 publisher that waits for every PUBACK."""

    def __init__(self, url: str) -> None:
        s = MqttSettings(url=url)
        self.client = mqtt.paho_client(s, mqtt.client_id(s, "test-pub"), max_inflight=1000)
        mqtt.connect_paho(self.client, s)
        self.pending: list[paho.MQTTMessageInfo] = []

    def send(self, topic: str, payload: bytes) -> None:
        self.pending.append(self.client.publish(topic, payload, qos=1))
        if len(self.pending) >= 500:
            self.flush()

    def flush(self) -> None:
        for info in self.pending:
            info.wait_for_publish(30)
            assert info.is_published()
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


def ingest_settings(dsn: str, url: str, site: str, **ingest: Any) -> Settings:
    env = {
        "FOREWARN_DATABASE__DSN": dsn,
        "FOREWARN_MQTT__URL": url,
        "FOREWARN_MQTT__CLIENT_ID_PREFIX": site,
        "FOREWARN_INGEST__TOPIC_FILTER": f"{topics.ROOT}/{site}/+/telemetry",
        **{f"FOREWARN_INGEST__{k.upper()}": str(v) for k, v in ingest.items()},
    }
    return load(path=os.devnull, environ=env)


def env_for(dsn: str, url: str, site: str, **ingest: Any) -> dict[str, str]:
    return {
        **os.environ,
        "FOREWARN_CONFIG": os.devnull,
        "FOREWARN_DATABASE__DSN": dsn,
        "FOREWARN_MQTT__URL": url,
        "FOREWARN_MQTT__CLIENT_ID_PREFIX": site,
        "FOREWARN_INGEST__TOPIC_FILTER": f"{topics.ROOT}/{site}/+/telemetry",
        "FOREWARN_INGEST__METRICS_INTERVAL_S": "1",
        **{f"FOREWARN_INGEST__{k.upper()}": str(v) for k, v in ingest.items()},
    }


def spawn(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m ingest run`` as a child process (so a test can SIGKILL it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "run", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def count(dsn: str, sql: str, *params: Any) -> int:
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=2) as conn:
            row = conn.execute(sql, params).fetchone()
            return int(row[0]) if row else 0
    except psycopg.OperationalError:
        return -1


def wait_subscribed(dsn: str, worker_prefix: str, timeout: float = 20) -> None:
    """A worker has connected once it stored its first metrics row."""
    wait_for(
        lambda: (
            count(
                dsn, "select count(*) from ingest_metrics where worker like %s", worker_prefix + "%"
            )
            > 0
        ),
        timeout,
        "the ingest worker to report",
    )


def free_port() -> int:
    from forewarn.testing.servers import free_port as _free

    return _free()
