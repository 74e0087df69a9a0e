"""The simulator as Sparkplug B edge nodes, through a real Mosquitto into Sparkplug intake.

Every simulated reading must land in TimescaleDB exactly once with the value the simulator
computed (doubles travel bit-exact), and an NCMD rebirth must be answered with births.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from device_sim import Fleet, load_scenario
from device_sim.runner import run
from device_sim.sparkplug_out import SparkplugFleet
from forewarn import db as fdb
from forewarn.settings import MqttSettings, load
from ingest import Ingestor
from ingest.config import load as load_ingest

pytestmark = pytest.mark.integration

STEPS = 40


@pytest.fixture
def own_db(admin_dsn: str) -> Iterator[tuple[str, Any]]:
    """A database of its own: other tests store the same scenario's asset names, and a
    random start time only made a collision of their rows unlikely (seen once in CI)."""
    name = f"fw_spb_{os.getpid()}_{secrets.token_hex(3)}"
    url = fdb.create_database(admin_dsn, name)
    try:
        fdb.migrate(url)
        with fdb.connect(url, autocommit=True) as conn:
            yield url, conn
    finally:
        fdb.drop_database(admin_dsn, name)


def test_fleet_as_sparkplug_edge_nodes_stores_every_reading_once(
    mosquitto_factory: Any, own_db: tuple[str, Any]
) -> None:
    dsn, db = own_db
    broker = mosquitto_factory()  # its own broker: the scenario's site names are shared
    prefix = f"t{secrets.token_hex(3)}"
    env = {
        "FOREWARN_DATABASE__DSN": dsn,
        "FOREWARN_MQTT__URL": broker.url,
        "FOREWARN_MQTT__CLIENT_ID_PREFIX": prefix,
        "FOREWARN_INGEST__TOPIC_FILTER": f"forewarn/v1/{prefix}/+/telemetry",
        "FOREWARN_SPARKPLUG__ENABLED": "true",
    }
    s = load(path=os.devnull, environ=env)
    worker = Ingestor(s, load_ingest(s)).start()
    # whole seconds, a few days back (within ingest's accepted past)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(
        days=3, minutes=secrets.randbelow(10_000)
    )
    fleet = Fleet(load_scenario("default"), start=start)
    out = SparkplugFleet(fleet, MqttSettings(url=broker.url), batch_samples=8)
    frames: list[Any] = []
    try:
        out.start()
        asyncio.run(run(fleet, [frames.append, out], steps=STEPS, speed=None))
        # A host asking for a rebirth (as intake does on a gap) gets fresh births.
        cmd = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-host")
        cmd.connect(broker.host, broker.port)
        cmd.loop_start()
        node = out.nodes[0]
        from ingest.sparkplug.proto import rebirth_request

        cmd.publish(node.topic("NCMD"), rebirth_request(0), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while out.rebirths < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        cmd.disconnect()
        cmd.loop_stop()
        out.stop()
        expected = {}
        for f in frames:
            for cls, g in fleet.groups.items():
                for i, a in enumerate(g.assets):
                    if not f.online[cls][i]:
                        continue
                    for m, v in zip(g.metrics, f.values[cls][i].tolist(), strict=True):
                        if not math.isnan(v):
                            expected[(f.ts, a.id, m)] = v
        end = frames[-1].ts
        q = "select count(*) from telemetry where time between %s and %s"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if db.execute(q, (start, end)).fetchone()[0] >= len(expected):
                break
            time.sleep(0.2)
    finally:
        worker.stop()
    rows = db.execute(
        "select time, asset, metric, value from telemetry where time between %s and %s",
        (start, end),
    ).fetchall()
    assert out.rebirths == 1
    assert len(rows) == len(expected)  # exactly once
    assert {(r[0], r[1], r[2]): r[3] for r in rows} == expected  # bit-exact doubles
    sites = sorted({a.site for a in fleet.assets})
    dead = "select count(*) from dead_letters where topic like any(%s)"
    assert db.execute(dead, ([f"spBv1.0/{site}/%" for site in sites],)).fetchone()[0] == 0
    classes = dict(
        db.execute(
            "select asset, asset_class from assets where asset = any(%s)",
            ([a.id for a in fleet.assets],),
        ).fetchall()
    )
    assert classes == {a.id: a.asset_class for a in fleet.assets}
