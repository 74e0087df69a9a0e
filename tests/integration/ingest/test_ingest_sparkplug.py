"""Sparkplug B intake end to end: an independent edge node (tests' own protobuf encoder),
a real Mosquitto, the ingest worker and TimescaleDB.

Faults and bad input tried: a sequence gap (rebirth requested, data kept), garbage bytes on
a DDATA topic, DDATA from an edge node that never sent NBIRTH, DDATA naming an alias its
DBIRTH never declared, an NBIRTH without bdSeq, a stale NDEATH (old bdSeq): each a dead
letter with its reason or ignored, the worker alive, the other device's data all stored.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
from ingest_helpers import count, wait_for
from paho.mqtt.enums import CallbackAPIVersion
from spb_edge import EdgeNode, metric, now_ms

from forewarn.settings import load
from ingest import Ingestor
from ingest.config import load as load_ingest

pytestmark = pytest.mark.integration

BIRTH = [  # (name, alias, type)
    ("Motor/Temperature", 1, "Double"),
    ("Motor/Current", 2, "Float"),
    ("Running", 3, "Boolean"),
    ("Count", 4, "Int16"),
    ("Energy", 5, "UInt64"),
    ("Firmware", 6, "String"),
]


@pytest.fixture
def spb(dsn: str, broker: Any, site: str) -> Iterator[Any]:
    started: list[Ingestor] = []

    def start(**extra: Any) -> Ingestor:
        env = {
            "FOREWARN_DATABASE__DSN": dsn,
            "FOREWARN_MQTT__URL": broker.url,
            "FOREWARN_MQTT__CLIENT_ID_PREFIX": site,
            "FOREWARN_INGEST__TOPIC_FILTER": f"forewarn/v1/{site}/+/telemetry",
            "FOREWARN_SPARKPLUG__ENABLED": "true",
            "FOREWARN_SPARKPLUG__GROUP_FILTER": site,  # group id = site (default mapping)
            "FOREWARN_SPARKPLUG__REBIRTH_INTERVAL_S": "0",
            **{f"FOREWARN_SPARKPLUG__{k.upper()}": str(v) for k, v in extra.items()},
        }
        s = load(path=os.devnull, environ=env)
        w = Ingestor(s, load_ingest(s)).start()
        started.append(w)
        return w

    yield start
    for w in started:
        if not w.stopping.is_set():  # a test may have stopped one itself
            w.stop()


class StatusWatch:
    """The retained gateway status documents, as a console or the ticketing side sees them."""

    def __init__(self, broker: Any, site: str) -> None:
        self.last: dict[str, dict[str, Any]] = {}
        ready = threading.Event()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"status-{site}")
        self.c.on_connect = lambda c, *a: c.subscribe(f"forewarn/v1/{site}/gateways/+/status", 1)
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_message = lambda c, u, m: self.last.update({m.topic: json.loads(m.payload)})
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert ready.wait(10)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def device_birth(t: int, temp: float, current: float) -> list[bytes]:
    values = [temp, current, True, -7, 2**40, "1.2.3"]
    out = [
        metric(kind, v, name=name, alias=alias, ts=t)
        for (name, alias, kind), v in zip(BIRTH, values, strict=True)
    ]
    return [*out, metric("String", "centrifugal_pump", name="Properties/AssetClass", ts=t)]


def stored(db: psycopg.Connection[Any], asset: str) -> list[tuple[int, str, float]]:
    rows = db.execute(
        "select time, metric, value from telemetry where asset = %s order by time, metric",
        (asset,),
    ).fetchall()
    return [(int(r[0].timestamp() * 1000), r[1], r[2]) for r in rows]


def test_births_aliases_backfill_and_deaths_store_every_value_once(
    spb: Any, broker: Any, site: str, dsn: str, db: psycopg.Connection[Any]
) -> None:
    w = spb()
    handed: list[Any] = []
    handle = w.sparkplug.handle
    w.sparkplug.handle = partial(_spy, handle, handed)  # records what reaches the writer
    status = StatusWatch(broker, site)
    edge = EdgeNode(broker.host, broker.port, site, "edge1", bdseq=3)
    pump = f"{site}-pump"
    t0 = now_ms() - 600_000
    expected: list[tuple[int, str, float]] = []
    try:
        edge.nbirth(metric("UInt32", 42, name="Node/Uptime", ts=t0))
        edge.send("DBIRTH", pump, device_birth(t0, 40.5, 3.25))
        expected += [
            (t0, "Motor.Temperature", 40.5), (t0, "Motor.Current", 3.25), (t0, "Running", 1.0),
            (t0, "Count", -7.0), (t0, "Energy", float(2**40)),
        ]  # fmt: skip
        # 300 DDATA by alias only (seq wraps past 255), signed, float and boolean values.
        for i in range(1, 301):
            t = t0 + i * 1000
            temp, count_, running = 40.5 + i / 4, -150 + i, i % 3 == 0
            edge.send(
                "DDATA",
                pump,
                [
                    metric("Double", temp, alias=1, ts=t, send_type=False),
                    metric("Int16", count_, alias=4, ts=t, send_type=False),
                    metric("Boolean", running, alias=3, ts=t, send_type=False),
                ],
            )
            expected += [(t, "Count", float(count_)), (t, "Motor.Temperature", temp)]
            expected += [(t, "Running", 1.0 if running else 0.0)]
        # A historical backfill: ten older readings in one message, flagged is_historical.
        hist = []
        for k in range(10):
            t = t0 - 3_600_000 + k * 1000
            hist += [
                metric("Double", 30.0 + k, alias=1, ts=t, historical=True, send_type=False),
                metric("Float", 2.5 + k, alias=2, ts=t, historical=True, send_type=False),
            ]
            expected += [(t, "Motor.Current", 2.5 + k), (t, "Motor.Temperature", 30.0 + k)]
        hist.append(metric("String", "1.2.2", alias=6, ts=t0 - 3_600_000, historical=True))
        edge.send("DDATA", pump, hist)
        edge.send("DDEATH", pump, [])
        wait_for(
            lambda: (
                count(dsn, "select count(*) from telemetry where asset = %s", pump) >= len(expected)
            ),
            30,
            "every DDATA value stored",
        )
        wait_for(
            lambda: any(
                d["state"] == "offline" for s in status.last.values() for d in s["devices"]
            ),
            10,
            "the device shown offline after DDEATH",
        )
        edge.ndeath()
        gw = f"forewarn/v1/{site}/gateways/edge1/status"
        wait_for(lambda: status.last.get(gw, {}).get("state") == "offline", 10, "node offline")
    finally:
        edge.close()
        status.close()
    assert stored(db, pump) == sorted(expected)  # equal values, each once, in time order
    assert edge.rebirths == []  # no gap: seq wrapped 255 -> 0 without a rebirth request
    assert count(dsn, "select count(*) from dead_letters where topic like %s", f"%/{site}/%") == 0
    node = stored(db, "edge1")
    assert (t0, "Node.Uptime", 42.0) in node and not any(m == "bdSeq" for _, m, _ in node)
    events = db.execute(
        "select name, value, historical from device_events where asset = %s order by time",
        (pump,),
    ).fetchall()
    assert events == [("Firmware", "1.2.2", True), ("Firmware", "1.2.3", False), (
        "Properties/AssetClass", "centrifugal_pump", False)]  # fmt: skip
    assert db.execute("select asset_class, site from assets where asset = %s", (pump,)).fetchone() == (
        "centrifugal_pump", site)  # fmt: skip
    backfill = [i for i in handed if i.rows and i.oldest.timestamp() * 1000 < t0]
    assert backfill and all(i.historical for i in backfill)
    assert not any(i.historical for i in handed if i not in backfill)
    final = status.last[gw]
    assert final["gateway"] == "edge1" and final["devices"] == [
        {"device": pump, "asset": pump, "state": "offline"}
    ]


def _spy(handle: Any, handed: list[Any], topic: str, raw: bytes) -> list[Any]:
    items = handle(topic, raw)
    handed.extend(items)
    return items


def dead(db: psycopg.Connection[Any], site: str) -> list[tuple[str, str]]:
    return db.execute(
        "select topic, reason from dead_letters where topic like %s order by id",
        (f"spBv1.0/{site}/%",),
    ).fetchall()


def born(edge: EdgeNode, device: str, t: int) -> None:
    edge.nbirth()
    edge.send("DBIRTH", device, device_birth(t, 20.0, 1.0))


def test_sequence_gap_requests_a_rebirth_and_keeps_the_data(
    spb: Any, broker: Any, site: str, dsn: str, db: psycopg.Connection[Any]
) -> None:
    spb()
    edge = EdgeNode(broker.host, broker.port, site, "edge2")
    dev = f"{site}-fan"
    t0 = now_ms() - 60_000
    try:
        born(edge, dev, t0)
        edge.send("DDATA", dev, [metric("Double", 1.5, alias=1, ts=t0 + 1000, send_type=False)])
        edge.seq += 2  # two messages lost on the way
        edge.send("DDATA", dev, [metric("Double", 2.5, alias=1, ts=t0 + 2000, send_type=False)])
        wait_for(lambda: len(edge.rebirths) >= 1, 10, "an NCMD Node Control/Rebirth")
        # The node answers as the specification says: NBIRTH and DBIRTH again, then data.
        born(edge, dev, t0 + 3000)
        edge.send("DDATA", dev, [metric("Double", 4.5, alias=1, ts=t0 + 4000, send_type=False)])
        q = "select count(*) from telemetry where asset = %s and metric = 'Motor.Temperature'"
        wait_for(lambda: count(dsn, q, dev) == 5, 15, "data around the gap stored")
    finally:
        edge.close()
    temps = [v for t, m, v in stored(db, dev) if m == "Motor.Temperature"]
    assert temps == [20.0, 1.5, 2.5, 20.0, 4.5]
    assert len(edge.rebirths) == 1 and dead(db, site) == []


def test_bad_input_is_dead_lettered_with_a_reason_and_others_keep_flowing(
    spb: Any, broker: Any, site: str, dsn: str, db: psycopg.Connection[Any]
) -> None:
    w = spb()
    good = EdgeNode(broker.host, broker.port, site, "good")
    bad = EdgeNode(broker.host, broker.port, site, "bad", bdseq=5)
    ghost = EdgeNode(broker.host, broker.port, site, "ghost")  # never sends NBIRTH
    ok_dev, bad_dev = f"{site}-ok", f"{site}-bad"
    t0 = now_ms() - 60_000
    sent = 0

    def flow() -> None:  # one good message between any two bad ones
        nonlocal sent
        sent += 1
        v = [metric("Double", float(sent), alias=1, ts=t0 + sent * 1000, send_type=False)]
        good.send("DDATA", ok_dev, v)

    try:
        born(good, ok_dev, t0)
        born(bad, bad_dev, t0)
        flow()
        bad.raw(bad.topic("DDATA", bad_dev), b"\xff\xff\xff\xff not protobuf")
        flow()
        ghost.send("DDATA", "thing", [metric("Double", 1.0, alias=1, send_type=False)])
        flow()
        bad.send("DDATA", bad_dev, [metric("Double", 9.0, alias=99, send_type=False)])
        flow()
        bad.raw(bad.topic("NBIRTH"), b"")  # an NBIRTH without bdSeq
        flow()
        bad.raw(bad.topic("NDEATH"), b"")  # no bdSeq: cannot be matched, so ignored
        bad.send("DDATA", bad_dev, [metric("Double", 8.5, alias=1, ts=t0 + 500, send_type=False)])
        stale = EdgeNode(broker.host, broker.port, site, "good", bdseq=99, ident="-old")
        stale.ndeath()  # a will from an older session of "good": ignored
        stale.close()
        flow()
        wait_for(lambda: len(dead(db, site)) >= 4, 15, "four dead letters")
        q = "select count(*) from telemetry where asset = %s and metric = 'Motor.Temperature'"
        wait_for(lambda: count(dsn, q, ok_dev) == sent + 1, 15, "the good device's data")
        wait_for(lambda: ghost.rebirths and bad.rebirths, 10, "rebirth requests")
    finally:
        for e in (good, bad, ghost):
            e.close()
    reasons = dead(db, site)
    assert [t.split("/")[2:4] for t, _ in reasons] == [
        ["DDATA", "bad"], ["DDATA", "ghost"], ["DDATA", "bad"], ["NBIRTH", "bad"]
    ]  # fmt: skip
    assert "not a Sparkplug B protobuf payload" in reasons[0][1]
    assert "before its NBIRTH" in reasons[1][1]
    assert "unknown alias 99" in reasons[2][1]
    assert "NBIRTH without a bdSeq" in reasons[3][1]
    raw = db.execute(
        "select payload from dead_letters where topic = %s order by id",  # two for this topic
        (f"spBv1.0/{site}/DDATA/bad/{bad_dev}",),
    ).fetchone()
    assert raw is not None and bytes(raw[0]).endswith(b"not protobuf")  # kept as received
    temps = [v for _, m, v in stored(db, ok_dev) if m == "Motor.Temperature"]
    assert temps == [20.0, *[float(i) for i in range(1, sent + 1)]]
    assert good.rebirths == []  # the stale death changed nothing for the live node
    assert (t0 + 500, "Motor.Temperature", 8.5) in stored(db, bad_dev)  # still alive
    assert all(t.is_alive() for t in w._threads)


def test_a_restarted_worker_resolves_aliases_from_stored_births(
    spb: Any, broker: Any, site: str, dsn: str, db: psycopg.Connection[Any]
) -> None:
    w = spb()
    edge = EdgeNode(broker.host, broker.port, site, "edge3")
    dev = f"{site}-cmp"
    t0 = now_ms() - 60_000
    try:
        born(edge, dev, t0)
        q = "select count(*) from telemetry where asset = %s"
        wait_for(lambda: count(dsn, q, dev) == 5, 10, "the birth's values")
        w.stop()
        # Sent while ingest is down: waits in the broker (persistent session), then arrives
        # at a worker that never saw the births.
        edge.send("DDATA", dev, [metric("Double", 7.25, alias=1, ts=t0 + 1000, send_type=False)])
        spb()
        wait_for(lambda: count(dsn, q, dev) == 6, 15, "DDATA by alias after the restart")
    finally:
        edge.close()
    assert (t0 + 1000, "Motor.Temperature", 7.25) in stored(db, dev)
    assert dead(db, site) == [] and edge.rebirths == []


def test_committed_batches_are_republished_as_v1_telemetry_for_the_detectors(
    spb: Any, broker: Any, site: str, dsn: str, db: psycopg.Connection[Any]
) -> None:
    w = spb()
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"detectors-{site}")
    sub.on_connect = lambda c, *a: c.subscribe(f"forewarn/v1/{site}/+/telemetry", 1)
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    assert ready.wait(10)
    edge = EdgeNode(broker.host, broker.port, site, "edge4")
    dev = f"{site}-chl"
    t0 = now_ms() - 60_000
    try:
        born(edge, dev, t0)
        edge.send("DDATA", dev, [metric("Double", 5.5, alias=1, ts=t0 + 1000, send_type=False)])
        old = [metric("Double", 4.5, alias=1, ts=t0 - 9000, historical=True, send_type=False)]
        edge.send("DDATA", dev, old)
        wait_for(lambda: len(got) >= 3, 10, "three v1 batches")
        q = "select count(*) from telemetry where asset = %s"
        wait_for(lambda: count(dsn, q, dev) == 7, 10, "the rows")
        wait_for(lambda: w.metrics.messages >= 7, 10, "4 Sparkplug messages and 3 echoes")
    finally:
        edge.close()
        sub.disconnect()
        sub.loop_stop()
    by_value = {
        b["samples"][0]["values"].get("Motor.Temperature"): b for b in got if b["asset"] == dev
    }
    assert by_value[5.5]["historical"] is False and by_value[4.5]["historical"] is True
    assert by_value[20.0]["asset_class"] == "centrifugal_pump"
    assert by_value[20.0]["gateway"] == "edge4"
    # The worker got its own three batches back and wrote none of them again.
    assert w.metrics.rows_duplicate == 0


def test_only_worker_zero_takes_sparkplug(dsn: str, broker: Any, site: str) -> None:
    env = {"FOREWARN_DATABASE__DSN": dsn, "FOREWARN_MQTT__URL": broker.url}
    s = load(path=os.devnull, environ={**env, "FOREWARN_SPARKPLUG__ENABLED": "true"})
    first, second = (Ingestor(s, load_ingest(s), index=i) for i in (0, 1))
    assert first.sparkplug is not None and second.sparkplug is None
    assert first.sparkplug.filters()[0] == "spBv1.0/+/NBIRTH/+"
    off = load(path=os.devnull, environ=env)
    assert Ingestor(off, load_ingest(off)).sparkplug is None  # off by default
