"""The one writer of telemetry JSON (the v1 ``TelemetryBatch``) for every producer.

Gateway and simulator publish thousands of batches a second, so they do not go through
pydantic (``encode``): samples are serialised once with orjson, which is several times
faster than both stdlib json and pydantic (bench/contract_encode.py), and can be stored
already encoded (the gateway's buffer keeps them as text) and wrapped later by
``telemetry_envelope``. tests/unit/test_contract_wire.py checks the output against the
published JSON Schema and ``decode``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from forewarn.contract.models import utc

Values = Mapping[str, float]


def sample(ts: datetime | str, values: Values) -> dict[str, Any]:
    """One sample as plain data; ``ts`` is an aware datetime or RFC 3339 text already."""
    return {"ts": ts if isinstance(ts, str) else utc(ts), "values": values}


def encode_samples(samples: Iterable[dict[str, Any]]) -> bytes:
    """The ``samples`` array of a batch (items from ``sample``; values finite floats).

    orjson writes floats in shortest round-trip form, exactly like ``json.dumps``; numpy
    scalars are taken as their numbers (``json.dumps`` took float64, a float subclass).
    """
    items = samples if isinstance(samples, list) else list(samples)
    return orjson.dumps(items, option=orjson.OPT_SERIALIZE_NUMPY)


def decode_samples(samples_json: bytes | str) -> list[dict[str, Any]]:
    """Back from ``encode_samples`` (trusted bytes we wrote; inbound data uses ``decode``)."""
    out: list[dict[str, Any]] = orjson.loads(samples_json)
    return out


def telemetry_envelope(
    asset: str,
    seq: int,
    samples_json: bytes | str,
    historical: bool = False,
    asset_class: str | None = None,
    gateway: str | None = None,
) -> bytes:
    """A whole v1 TelemetryBatch around an already-encoded samples array."""
    head: dict[str, Any] = {"v": 1, "asset": asset, "seq": seq, "historical": historical}
    if asset_class:
        head["asset_class"] = asset_class
    if gateway:
        head["gateway"] = gateway
    body = samples_json.encode() if isinstance(samples_json, str) else samples_json
    return orjson.dumps(head)[:-1] + b',"samples":' + body + b"}"
