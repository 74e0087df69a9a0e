"""The v1 contract refuses what it should, with a reason naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from forewarn.contract import AnomalyEvent, TelemetryBatch, decode, encode, json_schema, topics
from forewarn.errors import ContractError

GOOD = {
    "asset": "pump-1",
    "seq": 7,
    "samples": [{"ts": "2026-01-01T00:00:00Z", "values": {"vib_x": 1.5, "temp": 40}}],
}


def test_round_trip_keeps_every_field() -> None:
    batch = decode(TelemetryBatch, json.dumps(GOOD).encode())
    again = decode(TelemetryBatch, encode(batch))
    assert again == batch
    assert again.samples[0].ts == datetime(2026, 1, 1, tzinfo=UTC)
    assert again.samples[0].values == {"vib_x": 1.5, "temp": 40.0}
    assert again.historical is False and again.v == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({**GOOD, "v": 2}).encode(), "unsupported contract version 2"),
        (json.dumps({**GOOD, "asset": "a/b"}).encode(), "asset"),
        (json.dumps({**GOOD, "seq": -1}).encode(), "seq"),
        (json.dumps({**GOOD, "samples": []}).encode(), "samples"),
        (json.dumps({**GOOD, "extra": 1}).encode(), "extra"),
        (
            b'{"asset":"a","seq":1,"samples":[{"ts":"2026-01-01T00:00:00Z","values":{"x":NaN}}]}',
            "finite",
        ),
        (
            b'{"asset":"a","seq":1,"samples":[{"ts":"2026-01-01T00:00:00Z","values":{"x":Infinity}}]}',
            "finite",
        ),
        (
            b'{"asset":"a","seq":1,"samples":[{"ts":"2026-01-01T00:00:00","values":{"x":1}}]}',
            "timezone",
        ),
        (b'{"asset":"a","seq":1,"samples":[{"ts":"yesterday","values":{"x":1}}]}', "samples.0.ts"),
        (
            b'{"asset":"a","seq":1,"samples":[{"ts":"2026-01-01T00:00:00Z","values":{"x":"1.0x"}}]}',
            "samples.0.values.x",
        ),
        (b'{"asset":"a","seq":1,"samples":[{"ts":"2026-01-01T00:00:00Z","values":{}}]}', "values"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as info:
        decode(TelemetryBatch, payload)
    assert reason in str(info.value)


def test_topics_build_and_parse() -> None:
    t = topics.telemetry("site-a", "pump-1")
    assert t == "forewarn/v1/site-a/pump-1/telemetry"
    parsed = topics.parse(t)
    assert (parsed.kind, parsed.site, parsed.asset) == ("telemetry", "site-a", "pump-1")
    status = topics.parse(topics.gateway_status("site-a", "gw1"))
    assert (status.kind, status.gateway) == ("status", "gw1")
    assert topics.shared("ingest", topics.TELEMETRY_FILTER).startswith("$share/ingest/")
    for bad in (
        "forewarn/v2/s/a/telemetry",
        "forewarn/v1/s/a/other",
        "x",
        "forewarn/v1/s+/a/telemetry",
    ):
        with pytest.raises(ContractError):
            topics.parse(bad)
    with pytest.raises(ContractError):
        topics.telemetry("site/evil", "a")


def test_anomaly_score_bounds() -> None:
    event = {
        "event_id": "e1",
        "site": "s",
        "asset": "a",
        "ts": "2026-01-01T00:00:00Z",
        "detector": {"name": "d", "version": "1", "config_hash": "abc"},
        "score": 0.9,
        "severity": "warning",
    }
    assert decode(AnomalyEvent, json.dumps(event)).score == 0.9
    with pytest.raises(ContractError, match="score"):
        decode(AnomalyEvent, json.dumps({**event, "score": 1.5}))


def test_json_schema_is_published_for_each_payload() -> None:
    schema = json_schema("telemetry")
    assert schema["$id"].endswith("/v1/telemetry.json")
    assert set(schema["required"]) >= {"asset", "seq", "samples"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"seq": 1' + b"0" * 5000 + b"}", "not JSON"),
    ],
)
def test_payloads_the_json_parser_chokes_on_are_contract_errors(
    payload: bytes, reason: str
) -> None:
    """Deep nesting raised RecursionError and a 5,000-digit number a bare ValueError, past
    every consumer's ``except ContractError``: ticketing lost such an anomaly event."""
    for model in (TelemetryBatch, AnomalyEvent):
        with pytest.raises(ContractError, match=reason):
            decode(model, payload)
