"""The v1 wire contract: topics, payload models, JSON Schema."""

from forewarn.contract import topics, wire
from forewarn.contract.inbound import Message, decode_message
from forewarn.contract.models import (
    VERSION,
    AnomalyEvent,
    Contributor,
    DetectorInfo,
    DeviceStatus,
    GatewayStatus,
    Sample,
    TelemetryBatch,
    decode,
    encode,
    utc,
)
from forewarn.contract.schema import json_schema, write_all

__all__ = [
    "VERSION",
    "AnomalyEvent",
    "Contributor",
    "DetectorInfo",
    "DeviceStatus",
    "GatewayStatus",
    "Message",
    "Sample",
    "TelemetryBatch",
    "decode",
    "decode_message",
    "encode",
    "json_schema",
    "topics",
    "utc",
    "wire",
    "write_all",
]
