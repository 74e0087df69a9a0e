"""Every service's /metrics parses with prometheus_client's parser and moves when messages
flow; /healthz answers without a token; /readyz goes unready while the database is stopped
(a throw-away cluster) and ready again after. Real TimescaleDB and Mosquitto throughout.

Faults tried: a garbage payload and a payload for another topic's asset (dead letters by
reason class, detector rejections), the database stopped under running services.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from detectors import metrics as det_metrics
from detectors.service import DetectorService, DetectorsSettings
from forewarn import db as fdb
from forewarn.contract import topics
from forewarn.settings import Settings, load
from forewarn.testing.probes import Samples, parse, probe, scrape, value
from ingest import Ingestor
from ingest.config import load as load_ingest
from ticketing.app import create_app
from ticketing.auth import create_token

pytestmark = pytest.mark.integration


def observed(dsn: str, url: str, **env: str) -> Settings:
    """Settings with every probe server on a free port (0), as tests must."""
    return load(
        path=os.devnull,
        environ={
            "FOREWARN_DATABASE__DSN": dsn,
            "FOREWARN_MQTT__URL": url,
            "FOREWARN_OBSERVE__INGEST_PORT": "0",
            "FOREWARN_OBSERVE__DETECTORS_PORT": "0",
            "FOREWARN_OBSERVE__GATEWAY_PORT": "0",
            **env,
        },
    )


def wait_for(cond: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Pub:
    def __init__(self, broker: Any) -> None:
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"obs-{uuid.uuid4().hex[:8]}")
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def send(self, topic: str, payload: bytes | str) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def telemetry(asset: str, n: int, start: datetime) -> str:
    samples = [
        {"ts": (start + timedelta(seconds=i)).isoformat(), "values": {"flow": 30.0 + i % 3}}
        for i in range(n)
    ]
    return json.dumps({"asset": asset, "seq": 1, "samples": samples})


@pytest.fixture
def pub(broker: Any) -> Iterator[Pub]:
    p = Pub(broker)
    yield p
    p.close()


def test_ingest_metrics_move_and_parse(dsn: str, broker: Any, pub: Pub) -> None:
    site = f"obs{uuid.uuid4().hex[:6]}"
    s = observed(dsn, broker.url, FOREWARN_INGEST__TOPIC_FILTER=f"{topics.ROOT}/{site}/+/telemetry")
    worker = Ingestor(s, load_ingest(s)).start()
    try:
        assert worker._http is not None
        base = worker._http.url
        assert probe(base, "/healthz") == (200, {"status": "ok"})
        before = scrape(base)
        assert value(before, "forewarn_ingest_messages_total") == 0
        now = datetime.now(UTC) - timedelta(minutes=1)
        pub.send(topics.telemetry(site, f"{site}-a"), telemetry(f"{site}-a", 5, now))
        pub.send(topics.telemetry(site, f"{site}-a"), b"garbage")  # not JSON
        pub.send(topics.telemetry(site, f"{site}-b"), telemetry(f"{site}-c", 1, now))  # mismatch
        wait_for(lambda: worker.metrics.messages >= 3, what="three messages committed")
        after = scrape(base)
        w = worker.name
        assert value(after, "forewarn_ingest_messages_total", worker=w) == 3
        assert value(after, "forewarn_ingest_samples_total", worker=w) == 5
        assert value(after, "forewarn_ingest_dead_letters_total", worker=w) == 2
        reasons = "forewarn_ingest_dead_letter_reasons_total"
        assert value(after, reasons, worker=w, reason="json") == 1
        assert value(after, reasons, worker=w, reason="asset_mismatch") == 1
        assert value(after, "forewarn_ingest_batch_messages_count", worker=w) >= 1
        assert value(after, "forewarn_ingest_batch_messages_sum", worker=w) == 3
        assert ("forewarn_ingest_inbox_depth", frozenset({("worker", w)})) in after
        status, body = probe(base, "/readyz")
        assert status == 200 and body["checks"] == {"database": "ok", "broker": "ok"}
    finally:
        worker.stop()


def test_detector_metrics_count_scoring_and_lag(dsn: str, broker: Any, pub: Pub, tmp_path) -> None:
    cfg = tmp_path / "det.yaml"
    cfg.write_text("defaults:\n  alarm: {warmup: 50}\n")
    s = observed(dsn, broker.url)
    site = f"obs{uuid.uuid4().hex[:6]}"
    svc = DetectorService(s, DetectorsSettings(config=str(cfg), site=site, worker="obs-w"))
    svc.start()
    server = det_metrics.serve(svc)
    try:
        assert server is not None
        wait_for(svc.connected, what="the detectors' MQTT session")
        assert value(scrape(server.url), "forewarn_detectors_samples_total") == 0
        start = datetime(2026, 3, 1, tzinfo=UTC)
        pub.send(topics.telemetry(site, "pump-o"), telemetry("pump-o", 20, start))
        pub.send(topics.telemetry(site, "pump-o"), b"{not json")
        wait_for(lambda: svc.counts["rejected"] == 1 and svc.counts["samples"] == 20)
        m = scrape(server.url)
        assert value(m, "forewarn_detectors_batches_total", worker="obs-w") == 1
        assert value(m, "forewarn_detectors_samples_total", worker="obs-w") == 20
        assert value(m, "forewarn_detectors_rejected_total", worker="obs-w") == 1
        assert value(m, "forewarn_detectors_assets", worker="obs-w") == 1
        newest = (start + timedelta(seconds=19)).timestamp()
        assert value(m, "forewarn_detectors_last_scored_timestamp_seconds") == newest
        assert probe(server.url, "/readyz")[0] == 200
    finally:
        if server is not None:
            server.stop()
        svc.stop()


def test_ticketing_probes_need_no_token_and_metrics_follow_tickets(
    settings: Settings, db: Any
) -> None:
    asset = f"obs-{uuid.uuid4().hex[:8]}"
    db.execute("insert into assets (asset, site, asset_class) values (%s, 's1', 'pump')", (asset,))
    token = create_token(db, f"obs-{asset}", "dispatcher")[1]
    app = create_app(settings, background=False, mqtt=False)
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}  # no Authorization header
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"] == {"database": "ok"}
        before = parse(client.get("/metrics").text)
        r = client.post(
            "/tickets",
            json={"asset": asset, "title": "seal leak", "priority": "P1"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        after = parse(client.get("/metrics").text)
    opened = "forewarn_ticketing_tickets_open"
    assert value(after, opened, priority="P1") == value(before, opened, priority="P1") + 1
    events = "forewarn_ticketing_events_total"
    assert value(after, events) > value(before, events)
    assert value(after, "forewarn_ticketing_database_up") == 1
    timers = "forewarn_ticketing_sla_timers_running"
    assert value(after, timers, priority="P1") == value(before, timers, priority="P1") + 2


def _readyz_all(bases: list[str], client: TestClient) -> list[int]:
    return [probe(b, "/readyz")[0] for b in bases] + [client.get("/readyz").status_code]


def test_readyz_follows_the_database(pg_cluster: Any, broker: Any, tmp_path) -> None:
    """Ingest, detectors and ticketing on a cluster the test stops and starts again."""
    fdb.migrate(pg_cluster.dsn)
    s = observed(
        pg_cluster.dsn, broker.url, FOREWARN_INGEST__TOPIC_FILTER="forewarn/v1/x/+/telemetry"
    )
    cfg = tmp_path / "det.yaml"
    cfg.write_text("defaults:\n  alarm: {warmup: 50}\n")
    ingest = Ingestor(s, load_ingest(s)).start()
    det = DetectorService(s, DetectorsSettings(config=str(cfg), site="x", worker="rz"))
    det.start()
    det_server = det_metrics.serve(det)
    try:
        assert ingest._http is not None and det_server is not None
        bases = [ingest._http.url, det_server.url]
        with TestClient(create_app(s, background=False, mqtt=False)) as client:
            wait_for(lambda: _readyz_all(bases, client) == [200, 200, 200], what="all ready")
            pg_cluster.stop("fast")
            codes = _readyz_all(bases, client)
            assert codes == [503, 503, 503]
            _, body = probe(bases[0], "/readyz")
            assert body["checks"]["broker"] == "ok" and body["checks"]["database"] != "ok"
            assert client.get("/healthz").status_code == 200  # alive, only not ready
            samples: Samples = parse(client.get("/metrics").text)  # still answers
            assert value(samples, "forewarn_ticketing_database_up") == 0
            pg_cluster.start()
            wait_for(lambda: _readyz_all(bases, client) == [200, 200, 200], 60, "ready again")
    finally:
        det_server and det_server.stop()
        det.stop()
        ingest.stop()
