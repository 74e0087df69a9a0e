"""The shared helpers against the real TimescaleDB and Mosquitto."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from forewarn import db as fdb
from forewarn import mqtt
from forewarn.errors import ServiceUnavailable
from forewarn.settings import MqttSettings, Settings
from forewarn.testing import Broker

pytestmark = pytest.mark.integration


def test_fresh_database_migrates_to_the_same_schema_twice(admin_dsn: str) -> None:
    name = f"fw_mig_{os.getpid()}"
    url = fdb.create_database(admin_dsn, name)
    try:
        first = fdb.migrate(url)
        assert first and fdb.migrate(url) == []
        with fdb.connect(url) as conn:
            assert fdb.schema_version(conn) == first[-1]
            hyper = conn.execute(
                "select hypertable_name from timescaledb_information.hypertables"
            ).fetchall()
            assert ("telemetry",) in hyper
    finally:
        fdb.drop_database(admin_dsn, name)


def test_replayed_telemetry_is_a_no_op(db: psycopg.Connection[Any]) -> None:
    rows = [
        ("2026-01-01T00:00:00Z", "dup-asset", "x", 1.0),
        ("2026-01-01T00:00:01Z", "dup-asset", "x", 2.0),
    ]
    for _ in range(2):
        with db.cursor() as cur:
            cur.executemany(
                "insert into telemetry (time, asset, metric, value) values (%s, %s, %s, %s)"
                " on conflict do nothing",
                rows,
            )
    count = db.execute("select count(*) from telemetry where asset = 'dup-asset'").fetchone()
    assert count == (2,)


def test_unreachable_database_says_how_to_fix() -> None:
    with pytest.raises(ServiceUnavailable) as info:
        fdb.connect("postgresql://postgres@127.0.0.1:9/none", timeout=2)
    assert "scripts/services.sh start" in str(info.value)


def test_publish_and_receive_over_the_private_broker(broker: Broker) -> None:
    s = MqttSettings(url=broker.url)
    got = threading.Event()
    received: list[bytes] = []
    sub = mqtt.paho_client(s, mqtt.client_id(s, "sub"))
    sub.on_message = lambda c, u, m: (received.append(m.payload), got.set())
    sub.on_connect = lambda c, u, f, rc, p=None: c.subscribe("forewarn/v1/+/+/telemetry", qos=1)
    mqtt.connect_paho(sub, s)
    pub = mqtt.paho_client(s, mqtt.client_id(s, "pub"))
    mqtt.connect_paho(pub, s)
    import time

    time.sleep(0.2)
    pub.publish("forewarn/v1/s/a/telemetry", b"hello", qos=1).wait_for_publish(5)
    assert got.wait(5) and received == [b"hello"]
    for c in (sub, pub):
        c.disconnect()
        c.loop_stop()


def test_unreachable_broker_says_how_to_fix() -> None:
    with pytest.raises(ServiceUnavailable, match=r"services\.sh start"):
        mqtt.check_broker(MqttSettings(url="mqtt://127.0.0.1:9"), timeout=2)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forewarn", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250", **env},
        timeout=120,
    )


def test_cli_status_reports_both_servers(settings: Settings) -> None:
    env = {"FOREWARN_DATABASE__DSN": settings.database.dsn, "FOREWARN_MQTT__URL": settings.mqtt.url}
    result = _cli("status", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "timescaledb 2." in result.stdout and "up" in result.stdout


def test_cli_expected_failures_are_one_clear_line(tmp_path: Path) -> None:
    down = _cli(
        "db", "migrate", env={"FOREWARN_DATABASE__DSN": "postgresql://postgres@127.0.0.1:9/x"}
    )
    assert down.returncode == 2 and "Traceback" not in down.stderr
    assert "database at" in down.stderr and "services.sh start" in down.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt:\n  url: ftp://nope\n")
    broken = _cli("status", "--config", str(bad), env={})
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert "mqtt.url" in broken.stderr
