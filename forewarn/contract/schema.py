"""JSON Schema export, so vendors can validate payloads without our code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forewarn.contract.models import VERSION, AnomalyEvent, GatewayStatus, TelemetryBatch

SCHEMAS: dict[str, type[BaseModel]] = {
    "telemetry": TelemetryBatch,
    "anomaly": AnomalyEvent,
    "status": GatewayStatus,
}


def json_schema(name: str) -> dict[str, Any]:
    model = SCHEMAS[name]
    schema = model.model_json_schema()
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
