"""A detectors worker reads ownership from the topic before it decodes the payload."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime

import pytest

from detectors import service as service_mod
from detectors.service import DetectorService, DetectorsSettings
from forewarn.contract import topics
from forewarn.settings import Settings


def asset_of(partition: int, partitions: int = 2) -> str:
    return next(
        f"own-{i}" for i in range(100) if zlib.crc32(f"own-{i}".encode()) % partitions == partition
    )


@pytest.fixture
def worker(monkeypatch):
    """Partition 0 of 2, never started (no broker, no database); decodes are recorded."""
    svc = DetectorService(Settings(), DetectorsSettings(partition=0, partitions=2, worker="u"))
    decoded: list[str] = []
    real = service_mod.decode_message

    def spy(kind, topic, payload, *args, **kw):
        decoded.append(topic)
        return real(kind, topic, payload, *args, **kw)

    monkeypatch.setattr(service_mod, "decode_message", spy)
    svc.decoded = decoded  # type: ignore[attr-defined]
    return svc


def test_a_foreign_assets_bad_payload_is_dropped_undecoded(worker):
    foreign, mine = asset_of(1), asset_of(0)
    assert worker.handle(topics.telemetry("s1", foreign), b"not json") == []
    assert worker.counts["foreign"] == 1 and worker.counts["rejected"] == 0
    assert worker.decoded == []
    # the same bad payload on an asset it owns is decoded, and refused
    assert worker.handle(topics.telemetry("s1", mine), b"not json") == []
    assert worker.counts["rejected"] == 1 and worker.decoded == [topics.telemetry("s1", mine)]


def test_a_bad_topic_is_rejected_without_decoding(worker):
    assert worker.handle("forewarn/v1/s1/a/b/c/telemetry", b"{}") == []
    assert worker.counts["rejected"] == 1 and worker.decoded == []


def test_an_owned_asset_is_decoded_and_scored(worker, monkeypatch):
    mine = asset_of(0)
    monkeypatch.setattr(worker, "_db", lambda fn, *a: None)  # no stored class or checkpoint
    body = {
        "asset": mine,
        "seq": 0,
        "samples": [{"ts": datetime(2026, 3, 1, tzinfo=UTC).isoformat(), "values": {"flow": 1.0}}],
    }
    assert worker.handle(topics.telemetry("s1", mine), json.dumps(body).encode()) == []
    assert worker.counts["samples"] == 1 and mine in worker.detectors
