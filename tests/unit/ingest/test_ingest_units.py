"""Units of ingest that need no server: settings, validation policy, rollup hours."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from forewarn.errors import SettingsError
from forewarn.settings import load
from ingest.config import IngestSettings
from ingest.config import load as load_ingest
from ingest.validate import Accepted, Policy, Rejected, check
from ingest.writer import hours

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(max_future=timedelta(minutes=5), max_past=timedelta(days=7), now=lambda: NOW)
TOPIC = "forewarn/v1/plant1/pump-7/telemetry"


def payload(**over: object) -> bytes:
    doc: dict[str, object] = {
        "asset": "pump-7",
        "seq": 3,
        "asset_class": "centrifugal_pump",
        "samples": [
            {"ts": "2026-06-01T11:00:00Z", "values": {"vib": 1.5, "temp": 40}},
            {"ts": "2026-06-01T11:00:01+02:00", "values": {"vib": 1.6}},
        ],
    }
    doc.update(over)
    return json.dumps(doc).encode()


def test_a_valid_batch_becomes_one_row_per_metric_value() -> None:
    got = check(TOPIC, payload(), POLICY)
    assert isinstance(got, Accepted)
    assert got.site == "plant1" and got.asset_class == "centrifugal_pump" and got.samples == 2
    assert [(r[1], r[2], r[3]) for r in got.rows] == [
        ("pump-7", "vib", 1.5),
        ("pump-7", "temp", 40.0),
        ("pump-7", "vib", 1.6),
    ]
    assert got.oldest == datetime(2026, 6, 1, 9, 0, 1, tzinfo=UTC)
    assert got.newest == datetime(2026, 6, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        (TOPIC, b"\xff\xfe", "not JSON"),
        (TOPIC, b"[1, 2]", "JSON object"),
        (TOPIC, payload(v=2), "version"),
        (TOPIC, payload(seq=-1), "seq"),
        (TOPIC, payload(asset="pump-8"), "does not match"),
        (TOPIC, payload(samples=[{"ts": "2026-06-01T12:06:00Z", "values": {"x": 1}}]), "future"),
        (TOPIC, payload(samples=[{"ts": "2026-05-01T00:00:00Z", "values": {"x": 1}}]), "older"),
        (TOPIC, payload(samples=[{"ts": "2026-06-01T11:00:00", "values": {"x": 1}}]), "timezone"),
        (TOPIC, payload().replace(b"1.5", b"NaN"), "finite"),
        ("forewarn/v1/plant1/pump 7/telemetry", payload(), "invalid asset"),
        ("forewarn/v1/plant1/pump-7/anomaly", payload(), "not a telemetry topic"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(topic: str, body: bytes, reason: str) -> None:
    got = check(topic, body, POLICY)
    assert isinstance(got, Rejected) and got.payload == body
    assert reason.lower() in got.reason.lower(), got.reason


def test_rollup_hours_cover_dense_and_sparse_batches() -> None:
    dense = check(TOPIC, payload(), POLICY)
    assert isinstance(dense, Accepted)
    assert hours(dense) == [NOW.replace(hour=h) for h in (9, 10, 11)]
    sparse = Accepted(
        "t",
        b"",
        "s",
        "a",
        None,
        None,
        [(NOW - timedelta(days=3), "a", "m", 1.0), (NOW, "a", "m", 2.0)],
        2,
        NOW,
        NOW - timedelta(days=3),
    )
    assert hours(sparse) == [NOW - timedelta(days=3), NOW]


def test_settings_section_is_validated_with_full_key_names() -> None:
    s = load(
        path=os.devnull,
        environ={"FOREWARN_INGEST__GROUP": "ingest", "FOREWARN_INGEST__BATCH_MAX_ROWS": "5"},
    )
    cfg = load_ingest(s)
    assert cfg.subscription() == "$share/ingest/forewarn/v1/+/+/telemetry"
    assert cfg.batch_max_rows == 5
    assert IngestSettings().subscription() == "forewarn/v1/+/+/telemetry"
    with pytest.raises(SettingsError, match=r"ingest.topic_filter"):
        load_ingest(
            load(path=os.devnull, environ={"FOREWARN_INGEST__TOPIC_FILTER": "forewarn/v1/#"})
        )
    with pytest.raises(SettingsError, match=r"ingest.write_mode"):
        load_ingest(load(path=os.devnull, environ={"FOREWARN_INGEST__WRITE_MODE": "yolo"}))
    with pytest.raises(SettingsError, match=r"ingest.group"):
        load_ingest(load(path=os.devnull, environ={"FOREWARN_INGEST__GROUP": "a/b"}))
