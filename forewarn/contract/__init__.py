"""The v1 wire contract: topics, payload models, JSON Schema.

Every message between the services is a model here: telemetry, gateway status, anomaly
events, ticket events, low stock, and detector feedback (which travels through the database table
``detector_feedback`` only, see :mod:`forewarn.contract.tickets`)."""

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
from forewarn.contract.tickets import DetectorFeedback, StockLow, TicketEvent

__all__ = [
    "VERSION",
    "AnomalyEvent",
    "Contributor",
    "DetectorFeedback",
    "DetectorInfo",
    "DeviceStatus",
    "GatewayStatus",
    "Message",
    "Sample",
    "StockLow",
    "TelemetryBatch",
    "TicketEvent",
    "decode",
    "decode_message",
    "encode",
    "json_schema",
    "topics",
    "utc",
    "wire",
    "write_all",
]
