"""The one telemetry writer (contract.wire) produces what the published schema and the
strict decoder accept, with every optional field present and absent, and odd floats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from jsonschema import Draft202012Validator

from forewarn.contract import TelemetryBatch, decode, json_schema
from forewarn.contract.wire import decode_samples, encode_samples, sample, telemetry_envelope

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
# floats that trip hand-written encoders: exponents, negative zero, tiny, huge, many digits
VALUES = [{"a.b-c_1": 1e-300, "x": -0.0, "y": 1.7976931348623157e308}, {"x": 0.1 + 0.2}]


@pytest.mark.parametrize(
    ("historical", "asset_class", "gateway"),
    [(False, None, None), (True, "centrifugal_pump", "gw-1")],
)
def test_envelope_is_valid_v1_and_round_trips(
    historical: bool, asset_class: str | None, gateway: str | None
) -> None:
    plus2 = timezone(timedelta(hours=2))
    rows = [sample(T0, VALUES[0]), sample(T0.astimezone(plus2) + timedelta(seconds=1), VALUES[1])]
    payload = telemetry_envelope(
        "p-1", 2**63 - 1, encode_samples(rows), historical, asset_class, gateway
    )

    validator = Draft202012Validator(
        json_schema("telemetry"), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(json.loads(payload))
    batch = decode(TelemetryBatch, payload)
    assert (batch.asset, batch.seq, batch.historical) == ("p-1", 2**63 - 1, historical)
    assert (batch.asset_class, batch.gateway) == (asset_class, gateway)
    assert [s.ts for s in batch.samples] == [T0, T0 + timedelta(seconds=1)]
    assert [s.values for s in batch.samples] == VALUES  # floats exact, no rounding


def test_samples_stored_as_text_wrap_the_same_and_decode_back() -> None:
    body = encode_samples(iter([sample("2026-01-01T00:00:00Z", {"x": 2.5})]))
    assert telemetry_envelope("a", 0, body.decode()) == telemetry_envelope("a", 0, body)
    assert decode_samples(body.decode()) == [{"ts": "2026-01-01T00:00:00Z", "values": {"x": 2.5}}]


def test_an_asset_id_needing_escapes_cannot_break_out_of_its_string() -> None:
    """Envelope fields go through the encoder, never spliced: a quote stays inside the id
    (and the decoder then refuses the id by its pattern)."""
    payload = telemetry_envelope('p","seq":9,"x":"', 1, encode_samples([sample(T0, {"x": 1.0})]))
    assert json.loads(payload)["seq"] == 1
    with pytest.raises(Exception, match="asset"):
        decode(TelemetryBatch, payload)
