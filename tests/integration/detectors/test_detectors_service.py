"""The live detector service against a real Mosquitto and a real TimescaleDB."""

from __future__ import annotations

import json
import queue
import random
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from detectors.service import DetectorService, DetectorsSettings
from forewarn.contract import AnomalyEvent, decode, topics

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CFG = "defaults:\n  alarm: {warmup: 200}\n"


def samples(n, start=0, leak_from=None, seed=3):
    rng = random.Random(seed + start)
    out = []
    for i in range(start, start + n):
        flow = 30 + rng.gauss(0, 0.3)
        if leak_from is not None and i >= leak_from:
            flow *= 0.7
        out.append(
            {
                "ts": (T0 + timedelta(seconds=10 * i)).isoformat(),
                "values": {"flow": flow, "pressure": 6 + rng.gauss(0, 0.05)},
            }
        )
    return out


class Mqtt:
    """A plain paho client: publishes telemetry, collects anomaly events."""

    def __init__(self, broker):
        self.events: queue.Queue[AnomalyEvent] = queue.Queue()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{time.monotonic_ns()}")
        self.c.on_message = lambda c, u, m: self.events.put(decode(AnomalyEvent, m.payload))
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        self.c.subscribe(topics.ANOMALY_FILTER, qos=1)
        time.sleep(0.2)
        self.seq = 0

    def send(self, asset, batch, *, site="s1", asset_class=None, historical=False):
        for i in range(0, len(batch), 100):
            payload = {"asset": asset, "seq": self.seq, "samples": batch[i : i + 100],
                       "historical": historical}  # fmt: skip
            if asset_class:
                payload["asset_class"] = asset_class
            self.seq += 1
            self.c.publish(
                topics.telemetry(site, asset), json.dumps(payload), qos=1
            ).wait_for_publish(5)

    def raw(self, topic, payload):
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def wait_for(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def detector_yaml(tmp_path):
    p = tmp_path / "detectors.yaml"
    p.write_text(CFG)
    return p


def service(settings, detector_yaml, **kw):
    # A worker name is also its persistent MQTT session: a fresh one per test, unless named,
    # so telemetry other tests publish to this session broker is not queued for it.
    kw.setdefault("worker", f"t-{time.monotonic_ns()}")
    sec = DetectorsSettings(config=str(detector_yaml), feedback_poll_s=0.2, **kw)
    svc = DetectorService(settings, sec)
    svc.start()
    return svc


def test_alarm_published_stored_checkpointed_and_resumed(settings, broker, db, detector_yaml):
    mq = Mqtt(broker)
    svc = service(settings, detector_yaml, worker="w1")
    try:
        mq.send("pump-7", samples(1500) + samples(300, start=1500, leak_from=1500))
        ev = mq.events.get(timeout=30)
    finally:
        svc.stop()
    assert ev.asset == "pump-7" and ev.site == "s1" and ev.state == "open"
    assert ev.contributors[0].metric == "flow" and ev.window["flow"]
    row = db.execute(
        "select asset, state, score, payload from anomalies where event_id = %s", (ev.event_id,)
    ).fetchone()
    assert row[0] == "pump-7" and row[1] == "open" and row[2] == pytest.approx(ev.score)
    assert row[3]["detector"]["config_hash"] == ev.detector.config_hash
    cp = db.execute(
        "select samples, worker, config_hash from detector_checkpoints where asset = 'pump-7'"
    ).fetchone()
    assert cp[0] == 1800 and cp[1] == "w1" and cp[2] == ev.detector.config_hash

    # a restarted (or other) worker resumes the model: no new warm-up, alarm still latched
    svc2 = service(settings, detector_yaml, worker="w2")
    try:
        det = svc2.detector("s1", "pump-7", None)
        assert det.samples == 1800 and not det.alarm.warming_up and det.alarm.active
        mq.send("pump-7", samples(400, start=1800))  # the leak is repaired
        assert wait_for(lambda: not mq.events.empty() and mq.events.get().state == "cleared")
    finally:
        svc2.stop()
        mq.close()


def test_restart_gives_the_same_scores_as_an_uninterrupted_model(settings, broker, detector_yaml):
    stream = samples(900, seed=11) + samples(300, start=900, leak_from=900, seed=11)
    mq = Mqtt(broker)
    straight = service(settings, detector_yaml, worker="a")
    try:
        mq.send("ref-1", stream)
        assert wait_for(lambda: straight.counts["samples"] == 1200), dict(straight.counts)
        ref = (straight.detectors["ref-1"].score, straight.detectors["ref-1"].alarm.active)
    finally:
        straight.stop()
    first = service(settings, detector_yaml, worker="b")
    try:
        mq.send("cut-1", stream[:700])
        assert wait_for(lambda: first.counts["samples"] == 700)
    finally:
        first.stop()
    second = service(settings, detector_yaml, worker="c")
    try:
        mq.send("cut-1", stream[700:])
        assert wait_for(lambda: second.counts["samples"] == 500)
        got = (second.detectors["cut-1"].score, second.detectors["cut-1"].alarm.active)
    finally:
        second.stop()
        mq.close()
    assert got == ref


def resolve_ticket(db, asset, code):
    """What ticketing does when an engineer resolves a predictive ticket (migration 0040)."""
    db.execute(
        "insert into assets (asset, site) values (%s, 's1') on conflict do nothing", (asset,)
    )
    now = datetime.now(UTC)
    (tid,) = db.execute(
        """insert into tickets (tracking_code, asset, site, source, priority, title,
               created_at, updated_at, resolved_at, resolution_code, state)
           values (%s, %s, 's1', 'predictive', 'P2', 'test', %s, %s, %s, %s, 'resolved')
           returning id""",
        (f"T-{time.monotonic_ns()}", asset, now, now, now, code),
    ).fetchone()
    db.execute(
        """insert into detector_feedback (ticket_id, site, asset, fault_mode, resolution_code,
               event_ids, opened_at, resolved_at)
           values (%s, 's1', %s, 'unknown', %s, '{}', %s, %s)""",
        (tid, asset, code, now, now),
    )
    return tid


def test_feedback_from_tickets_raises_the_bar_visibly(settings, broker, db, detector_yaml):
    mq = Mqtt(broker)
    svc = service(settings, detector_yaml, worker="fb")
    try:
        mq.send("fb-1", samples(50))
        assert wait_for(lambda: svc.counts["samples"] == 50)
        before = svc.detectors["fb-1"].alarm.on_threshold
        tids = [
            resolve_ticket(db, "fb-1", c) for c in ("no_fault_found", "confirmed", "no_fault_found")
        ]
        assert wait_for(lambda: svc.detectors["fb-1"].alarm.nff == 2)
        assert svc.detectors["fb-1"].alarm.confirmed == 1
    finally:
        svc.stop()
        mq.close()
    rows = db.execute(
        "select ticket_id, resolution_code, on_threshold_after, worker"
        " from detector_feedback_applied where ticket_id = any(%s) order by ticket_id",
        (tids,),
    ).fetchall()
    assert [r[1] for r in rows] == ["no_fault_found", "confirmed", "no_fault_found"]
    assert rows[-1][2] == pytest.approx(before + 0.1) and rows[-1][3] == "fb"
    # applied once: a restarted worker restores the raised bar from its checkpoint, and does
    # not apply the same tickets again
    svc2 = service(settings, detector_yaml)
    try:
        det = svc2.detector("s1", "fb-1", None)
        assert svc2.apply_feedback() == 0 and det.alarm.nff == 2
    finally:
        svc2.stop()


def test_bad_payloads_are_counted_not_fatal(settings, broker, detector_yaml):
    """Bad input tried: non-JSON, wrong schema, NaN-free but asset mismatch between topic and
    payload, an invalid topic level."""
    mq = Mqtt(broker)
    svc = service(settings, detector_yaml)
    try:
        mq.raw(topics.telemetry("s1", "bad-1"), b"not json")
        mq.raw(topics.telemetry("s1", "bad-1"), b'{"asset": "bad-1", "seq": -1, "samples": []}')
        mq.raw(topics.telemetry("s1", "bad-1"), json.dumps(
            {"asset": "other", "seq": 0, "samples": samples(1)}).encode())  # fmt: skip
        mq.send("bad-1", samples(10))
        assert wait_for(lambda: svc.counts["samples"] == 10)
        assert svc.counts["rejected"] == 3
    finally:
        svc.stop()
        mq.close()


def test_static_partitions_split_assets_between_workers(settings, broker, detector_yaml):
    mq = Mqtt(broker)
    a = service(settings, detector_yaml, partition=0, partitions=2, worker="p0")
    b = service(settings, detector_yaml, partition=1, partitions=2, worker="p1")
    assets = [f"part-{i}" for i in range(8)]
    try:
        for name in assets:
            mq.send(name, samples(20))
        assert wait_for(lambda: a.counts["samples"] + b.counts["samples"] == 160)
    finally:
        a.stop()
        b.stop()
        mq.close()
    assert set(a.detectors).isdisjoint(b.detectors)
    assert set(a.detectors) | set(b.detectors) == set(assets)
    assert a.detectors and b.detectors


def test_settings_section_is_validated():
    with pytest.raises(ValueError, match="partition"):
        DetectorsSettings(partition=2, partitions=2)
