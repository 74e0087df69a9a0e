"""Issue 14 item 7: telemetry published while the detectors are down is scored.

Faults tried: the detector worker stopped while telemetry (with a developing leak) keeps
arriving at the broker; and a worker that died after acknowledging samples it had not yet
checkpointed (modelled by storing samples in the hypertable, as ingest does, that the
worker never saw). Before the fix the worker used a clean MQTT session and never read the
hypertable, so both gaps went unscored and the leak inside the gap raised no alarm.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from test_detectors_service import T0, Mqtt, detector_yaml, samples, service, wait_for

pytestmark = pytest.mark.integration
__all__ = ["detector_yaml"]  # the fixture, shared with test_detectors_service


def checkpoint(db, asset):
    return db.execute(
        "select samples, last_ts from detector_checkpoints where asset = %s", (asset,)
    ).fetchone()


def ts_of(i: int) -> datetime:
    return T0 + timedelta(seconds=10 * i)


def test_samples_published_while_the_worker_is_down_are_scored(settings, broker, db, detector_yaml):
    name = f"gap-{time.monotonic_ns()}"  # the same worker, so the same persistent session
    mq = Mqtt(broker)
    svc = service(settings, detector_yaml, worker=name)
    try:
        mq.send("gap-1", samples(1200))
        assert wait_for(lambda: svc.counts["samples"] == 1200)
    finally:
        svc.stop()
    assert checkpoint(db, "gap-1") == (1200, ts_of(1199))
    # While it is down: 150 healthy samples, then a leak (flow -30 %) for 150 more.
    mq.send("gap-1", samples(300, start=1200, leak_from=1350))
    events = []
    svc = service(settings, detector_yaml, worker=name)
    try:
        assert wait_for(lambda: svc.counts["samples"] == 300), svc.counts
        while not mq.events.empty():
            events.append(mq.events.get())
    finally:
        svc.stop()
        mq.close()
    assert checkpoint(db, "gap-1") == (1500, ts_of(1499))
    opened = [e for e in events if e.asset == "gap-1" and e.state == "open"]
    assert opened, "the leak inside the outage raised no alarm"
    assert ts_of(1350) <= opened[0].ts <= ts_of(1499)


def test_stored_samples_the_worker_never_scored_are_caught_up_once(
    settings, broker, db, detector_yaml
):
    mq = Mqtt(broker)
    svc = service(settings, detector_yaml, worker=f"cu-a-{time.monotonic_ns()}")
    try:
        mq.send("cu-1", samples(300))
        assert wait_for(lambda: svc.counts["samples"] == 300)
    finally:
        svc.stop()
    assert checkpoint(db, "cu-1") == (300, ts_of(299))
    # What ingest stored after that checkpoint, never seen by a live detector (it died
    # before checkpointing them, or the broker dropped its queue).
    db.execute("insert into assets (asset, site) values ('cu-1', 's1') on conflict do nothing")
    later = samples(200, start=300)
    with db.cursor() as cur:
        cur.executemany(
            "insert into telemetry (time, asset, metric, value) values (%s, 'cu-1', %s, %s)",
            [(s["ts"], m, v) for s in later for m, v in s["values"].items()],
        )
    # A new worker (a fresh session: nothing queued for it) scores them from the hypertable.
    svc = service(settings, detector_yaml, worker=f"cu-b-{time.monotonic_ns()}")
    try:
        assert wait_for(lambda: svc.counts["caught_up"] == 200), svc.counts
        # The same samples then arriving over MQTT as well are not scored a second time.
        mq.send("cu-1", later + samples(10, start=500))
        assert wait_for(lambda: svc.counts["batches"] == 3)
    finally:
        svc.stop()
        mq.close()
    assert checkpoint(db, "cu-1") == (510, ts_of(509))
    assert datetime.now(UTC) > ts_of(509)  # (T0 is in the past: live scoring, not future data)


def test_an_event_raised_while_the_broker_is_away_is_sent_when_it_returns(
    settings, mosquitto_factory, detector_yaml
):
    """Fault tried: the broker restarts just as a batch raises an alarm. Publishing while
    disconnected made paho's message info raise out of ``emit`` (the processing thread
    would have died); now the event stays queued in paho and goes out on reconnect."""
    from forewarn.contract import AnomalyEvent, decode, topics
    from forewarn.settings import load

    broker = mosquitto_factory()
    own = load(
        path="/dev/null",
        environ={"FOREWARN_DATABASE__DSN": settings.database.dsn, "FOREWARN_MQTT__URL": broker.url},
    )
    got: list[AnomalyEvent] = []
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="away-sub", clean_session=False)
    sub.on_message = lambda c, u, m: got.append(decode(AnomalyEvent, m.payload))
    sub.on_connect = lambda c, u, f, rc, p=None: c.subscribe(topics.ANOMALY_FILTER, qos=1)
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    svc = service(own, detector_yaml)
    try:
        assert wait_for(lambda: svc._client is not None and svc._client.is_connected())
        healthy = json.dumps({"asset": "away-1", "seq": 0, "samples": samples(1200)})
        svc.handle(topics.telemetry("s1", "away-1"), healthy.encode())
        broker.stop()
        assert wait_for(lambda: not svc._client.is_connected())
        leak = {"asset": "away-1", "seq": 1, "samples": samples(300, 1200, leak_from=1200)}
        raised = svc.handle(topics.telemetry("s1", "away-1"), json.dumps(leak).encode())
        # The leak opens one episode; its news (a spike, an escalation) are updates of it.
        assert raised and {e.state for e in raised} == {"open"}
        assert [(e.episode, e.revision) for e in raised] == [
            (raised[0].episode, i) for i in range(len(raised))
        ]
        assert raised[0].episode and raised[0].update is None
        assert all(e.update for e in raised[1:])
        broker.start()
        want = {e.event_id for e in raised}
        assert wait_for(lambda: want <= {e.event_id for e in got}, 60)
    finally:
        svc.stop()
        sub.loop_stop()
        sub.disconnect()
