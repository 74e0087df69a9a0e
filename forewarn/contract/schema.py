"""JSON Schema export, so vendors can validate payloads without our code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forewarn.contract.models import VERSION, AnomalyEvent, GatewayStatus, TelemetryBatch
from forewarn.contract.tickets import DetectorFeedback, StockLow, TicketEvent

SCHEMAS: dict[str, type[BaseModel]] = {
    "telemetry": TelemetryBatch,
    "anomaly": AnomalyEvent,
    "status": GatewayStatus,
    "ticket": TicketEvent,
    "stock": StockLow,
    "feedback": DetectorFeedback,
}


def _closed(node: Any) -> None:
    """A metric map takes only names that match its pattern, as the decoder does (pydantic
    leaves ``additionalProperties`` open beside ``patternProperties``)."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)


def json_schema(name: str) -> dict[str, Any]:
    model = SCHEMAS[name]
    schema = model.model_json_schema()
    _closed(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://forewarn.dev/schema/v{VERSION}/{name}.json"
    return schema


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = directory / f"{name}.v{VERSION}.schema.json"
        path.write_text(json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
