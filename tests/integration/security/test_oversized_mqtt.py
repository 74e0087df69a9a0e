"""Oversized and pathological MQTT messages: each is refused into ``dead_letters`` with a
reason that says what was too big, the consumer keeps running, and a good message sent
after them is stored."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from security_helpers import (
    anomaly_event,
    dumps,
    ingest_settings,
    publish,
    recent,
    tables_intact,
    telemetry,
    uid,
    wait_for,
)

from forewarn.contract import topics, utc
from forewarn.contract.models import MAX_SAMPLES
from forewarn.settings import Settings
from ingest import Ingestor
from ingest.config import load as load_ingest
from ticketing.app import create_app

pytestmark = pytest.mark.integration
LIMIT = 1024 * 1024
DEEP = b"[" * 100_000 + b"]" * 100_000


def _dead(db: psycopg.Connection[Any], service: str, topic_like: str) -> dict[bytes, str]:
    rows = db.execute(
        "select payload, reason from dead_letters where service = %s and topic like %s",
        (service, topic_like),
    ).fetchall()
    return {bytes(p): r for p, r in rows}


def test_ingest_dead_letters_oversized_and_pathological_telemetry(
    dsn: str, broker: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried: a contract-valid batch bigger than ``ingest.max_payload_bytes``; one sample
    over the contract's sample limit; a 10,000-character asset id in the payload and in the
    topic; a 10,000-character metric name; JSON nested 100,000 levels deep."""
    site = f"big{uid()}"
    s = ingest_settings(dsn, broker.url, site, FOREWARN_INGEST__MAX_PAYLOAD_BYTES=str(LIMIT))
    asset = f"{site}-a"
    topic = topics.telemetry(site, asset)
    start = recent(240)  # 10,000 one-second samples end well before now
    wide = {
        "asset": asset,
        "seq": 1,
        "samples": [
            {"ts": utc(start + timedelta(seconds=i)), "values": {f"m{j}": 1.5 for j in range(8)}}
            for i in range(MAX_SAMPLES)
        ],
    }
    many = {
        "asset": asset,
        "seq": 2,
        "samples": [
            {"ts": utc(start + timedelta(seconds=i)), "values": {"m": 1.0}}
            for i in range(MAX_SAMPLES + 1)
        ],
    }
    long_metric = telemetry(asset)
    long_metric["samples"][0]["values"] = {"m" * 10_000: 1.0}
    long_id = "a" * 10_000
    cases: list[tuple[str, bytes, str]] = [
        (topic, dumps(wide), f"larger than the limit of {LIMIT} (ingest.max_payload_bytes)"),
        (topic, dumps(many), f"at most {MAX_SAMPLES}"),
        (topic, dumps(telemetry(long_id)), "asset"),
        (
            f"{topics.ROOT}/{site}/{long_id}/telemetry",
            dumps(telemetry(long_id, seq=7)),
            "invalid asset",
        ),
        (topic, dumps(long_metric), "values"),
        (topic, DEEP, "nested too deeply"),
    ]
    assert len(cases[0][1]) > LIMIT and len(cases[1][1]) < LIMIT and len(DEEP) < LIMIT
    worker = Ingestor(s, load_ingest(s)).start()
    try:
        publish(broker.url, [(t, p) for t, p, _ in cases] + [(topic, dumps(telemetry(asset, n=4)))])
        wait_for(lambda: worker.metrics.messages >= len(cases) + 1, 60, "every message committed")
        assert all(t.is_alive() for t in worker._threads)
    finally:
        worker.stop()
    dead = _dead(db, "ingest", f"{topics.ROOT}/{site}/%")
    assert len(dead) == len(cases)
    for _, payload, why in cases:
        assert why in dead[payload], (why, dead[payload])
    assert db.execute("select count(*) from telemetry where asset = %s", (asset,)).fetchone() == (
        4,
    )
    tables_intact(db)


def test_ticketing_dead_letters_oversized_and_pathological_anomalies(
    settings: Settings, broker: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried over MQTT: an anomaly event bigger than ``ticketing.max_body_bytes`` (a huge
    evidence window), JSON nested 100,000 levels deep (before the fix this raised
    RecursionError past the consumer's dead-letter path, and the event vanished), a number
    with 5,000 digits, and a 10,000-character asset id. Then a good event opens a ticket."""
    site = f"big{uid()}"
    asset = f"{site}-pump"
    topic = topics.anomaly(site, asset)

    def event(**kw: Any) -> dict[str, Any]:
        return anomaly_event(site, asset, **kw)

    points = [[utc(recent() + timedelta(seconds=i)), 1.0] for i in range(40_000)]
    huge = dumps(event(window={"vibration_rms": points}))
    limit = 1_000_000  # ticketing.max_body_bytes default
    cases: list[tuple[bytes, str]] = [
        (huge, f"larger than the limit of {limit} (ticketing.max_body_bytes)"),
        (DEEP, "nested too deeply"),
        (b'{"score": 1' + b"0" * 5000 + b"}", "not JSON"),
        (dumps(event(asset="a" * 10_000)), "asset"),
    ]
    assert len(huge) > limit
    good = event()
    app = create_app(settings, background=False, mqtt=True)
    assert app.state.config.max_body_bytes == limit
    with TestClient(app):
        wait_for(lambda: app.state.mqtt_ready.is_set(), 20, "the consumer to subscribe")
        publish(broker.url, [(topic, p) for p, _ in cases] + [(topic, json.dumps(good).encode())])
        wait_for(
            lambda: (
                db.execute(
                    "select count(*) from ticket_anomalies where event_id = %s", (good["event_id"],)
                ).fetchone()
                == (1,)
            ),
            60,
            "the good event after the bad ones",
        )
    dead = _dead(db, "ticketing", topic)
    assert len(dead) == len(cases), list(dead.values())
    for payload, why in cases:
        assert why in dead[payload], (why, dead[payload])
    assert db.execute(
        "select count(*) from tickets where asset = %s and source = 'predictive'", (asset,)
    ).fetchone() == (1,)
    tables_intact(db)


def test_detectors_survive_pathological_telemetry(settings: Settings, broker: Any) -> None:
    """Tried on the detectors' telemetry feed: JSON nested 100,000 levels deep and a
    5,000-digit number (before the fix either raised out of ``handle`` and ended the
    detector thread: every later batch went unscored), and an injection as the asset. A good
    batch after them must still be scored."""
    from detectors.service import DetectorService, DetectorsSettings

    site = f"det{uid()}"
    asset = f"{site}-pump"
    topic = topics.telemetry(site, asset)
    svc = DetectorService(settings, DetectorsSettings(site=site, feedback_poll_s=60))
    svc.start()
    try:
        probes = 0  # a good batch until one is scored: then the subscription is in place
        while svc.counts["batches"] == 0:
            assert probes < 100, "the detector service never subscribed"
            publish(broker.url, [(topic, dumps(telemetry(asset, seq=probes, n=1)))])
            probes += 1
            time.sleep(0.2)
        bad = [DEEP, b'{"seq": 1' + b"0" * 5000 + b"}", dumps(telemetry("'; DROP TABLE x; --"))]
        publish(broker.url, [(topic, p) for p in bad] + [(topic, dumps(telemetry(asset, n=5)))])
        wait_for(lambda: svc.counts["batches"] == probes + 1, 30, "the good batch to be scored")
        assert svc.counts["rejected"] == len(bad) and svc.counts["samples"] == probes + 5
        assert svc._thread is not None and svc._thread.is_alive()
    finally:
        svc.stop()
