"""decode_message: the one set of inbound checks of ingest, detectors and ticketing.

Bad input tried: an oversized payload (refused before it is parsed, so even non-JSON is
refused by size), a topic of the wrong kind or shape, a payload the schema refuses, and a
payload naming another asset (or, for anomalies, another site) than its topic.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forewarn.contract import (
    AnomalyEvent,
    DetectorInfo,
    TelemetryBatch,
    decode_message,
    encode,
    topics,
)
from forewarn.contract.wire import encode_samples, sample, telemetry_envelope
from forewarn.errors import ContractError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TELEMETRY = telemetry_envelope("p-1", 3, encode_samples([sample(T0, {"x": 1.0})]))


def _anomaly(site: str = "s1", asset: str = "p-1") -> bytes:
    det = DetectorInfo(name="d", version="1", config_hash="h")
    return encode(
        AnomalyEvent(
            event_id="e1", site=site, asset=asset, ts=T0, detector=det, score=0.5, severity="info"
        )
    )


def test_valid_messages_come_back_typed_with_their_topic() -> None:
    msg = decode_message("telemetry", topics.telemetry("s1", "p-1"), TELEMETRY)
    assert isinstance(msg.body, TelemetryBatch) and msg.body.seq == 3
    assert (msg.where.kind, msg.where.site, msg.where.asset) == ("telemetry", "s1", "p-1")
    event = decode_message("anomaly", topics.anomaly("s1", "p-1"), _anomaly()).body
    assert isinstance(event, AnomalyEvent) and event.event_id == "e1"


@pytest.mark.parametrize(
    ("kind", "topic", "payload", "reason"),
    [
        ("telemetry", "forewarn/v1/s1/p-1/anomaly", TELEMETRY, "not a telemetry topic"),
        ("anomaly", "forewarn/v1/s1/p-1/telemetry", _anomaly(), "not an anomaly topic"),
        ("telemetry", "forewarn/v1/s1/gateways/g/status", TELEMETRY, "not a telemetry topic"),
        ("telemetry", "other/v1/s1/p-1/telemetry", TELEMETRY, "not a forewarn/v1 topic"),
        ("telemetry", "forewarn/v1/s1/p-2/telemetry", TELEMETRY, "asset 'p-1' in the payload"),
        ("telemetry", "forewarn/v1/s1/p-1/telemetry", b'{"v":1,"asset":"p-1"}', "seq"),
        ("telemetry", "forewarn/v1/s1/p-1/telemetry", b"{not json", "not JSON"),
        ("anomaly", "forewarn/v1/s2/p-1/anomaly", _anomaly(), "site 's1' in the payload"),
        ("anomaly", "forewarn/v1/s1/p-2/anomaly", _anomaly(), "asset 'p-1' in the payload"),
    ],
)
def test_bad_messages_are_refused_with_the_reason(
    kind: str, topic: str, payload: bytes, reason: str
) -> None:
    with pytest.raises(ContractError, match=reason):
        decode_message(kind, topic, payload)  # type: ignore[call-overload]


def test_size_is_checked_before_anything_is_parsed() -> None:
    huge = b"{" * 5000  # would fail parsing too: the size reason must come first
    with pytest.raises(ContractError, match=r"5000 bytes .* limit of 4999 \(ingest.max_pay"):
        decode_message("telemetry", "not a topic", huge, 4999, "ingest.max_payload_bytes")
    assert decode_message("telemetry", topics.telemetry("s", "p-1"), TELEMETRY, len(TELEMETRY))
