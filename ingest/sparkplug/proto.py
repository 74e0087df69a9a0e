"""The Sparkplug B protobuf classes and the value rules of the specification.

The classes are the ones generated from Eclipse Tahu's ``sparkplug_b.proto`` (shipped by the
``esio-spb-builder`` package as ``sparkplug_b_pb2``) on Google's protobuf runtime; we use only
that generated module, so swapping the package is this one import.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from esio_spb_builder.core import sparkplug_b_pb2 as pb
from google.protobuf.message import DecodeError

from forewarn.errors import ContractError

Payload: Any = pb.Payload
NAMESPACE = "spBv1.0"
MESSAGE_TYPES = ("NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH")

# Sparkplug B data types (specification 3.0, section 6.4.16)
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT, UUID = 9, 10, 11, 12, 13, 14, 15
SIGNED_BITS = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}
UNSIGNED = {UINT8, UINT16, UINT32, UINT64}
NUMERIC = set(SIGNED_BITS) | UNSIGNED | {FLOAT, DOUBLE, BOOLEAN}
TEXTUAL = {STRING, TEXT, UUID, DATETIME}
TYPE_NAMES = {v: k for k, v in pb.DataType.items()} if hasattr(pb, "DataType") else {}


def decode(raw: bytes) -> Any:
    """Parse a payload; raise ContractError naming why it is not Sparkplug B."""
    try:
        return Payload.FromString(raw)
    except DecodeError as exc:
        raise ContractError(f"not a Sparkplug B protobuf payload: {exc}") from None
    except Exception as exc:  # e.g. a RecursionError from deeply nested garbage
        raise ContractError(f"not a Sparkplug B protobuf payload: {type(exc).__name__}") from None


def ms_to_time(ms: int) -> datetime:
    """Sparkplug timestamps are milliseconds since the epoch, UTC."""
    try:
        return datetime.fromtimestamp(ms / 1000.0, UTC)
    except (OverflowError, OSError, ValueError):
        raise ContractError(f"timestamp {ms} ms is out of range") from None


def number(metric: Any, datatype: int) -> float | None:
    """The value of a numeric or boolean metric as a float; None when it has none.

    Signed integers travel as two's complement in ``int_value``/``long_value`` (some
    encoders write Int8 -1 as 0xFF, others as 0xFFFFFFFF): masking to the type's width
    and sign-extending reads both.
    """
    kind = metric.WhichOneof("value")
    if kind == "double_value" and datatype == DOUBLE:  # the common case, first
        value = metric.double_value
        return value if math.isfinite(value) else None
    if kind is None or metric.is_null:
        return None
    if datatype == BOOLEAN:
        if kind != "boolean_value":
            raise ContractError(f"Boolean metric carries {kind}")
        return 1.0 if metric.boolean_value else 0.0
    if datatype in (FLOAT, DOUBLE):
        if kind not in ("float_value", "double_value"):
            raise ContractError(f"{TYPE_NAMES.get(datatype, datatype)} metric carries {kind}")
        value = float(getattr(metric, kind))
        return value if math.isfinite(value) else None
    if kind not in ("int_value", "long_value"):
        raise ContractError(f"{TYPE_NAMES.get(datatype, datatype)} metric carries {kind}")
    raw = int(getattr(metric, kind))
    bits = SIGNED_BITS.get(datatype)
    if bits is None:
        return float(raw)
    raw &= (1 << bits) - 1
    return float(raw - (1 << bits) if raw >> (bits - 1) else raw)


def text(metric: Any, datatype: int) -> str | None:
    """The value of a String/Text/UUID/DateTime metric as text (DateTime as RFC 3339)."""
    kind = metric.WhichOneof("value")
    if kind is None or metric.is_null:
        return None
    if datatype == DATETIME:
        return ms_to_time(int(getattr(metric, kind))).isoformat().replace("+00:00", "Z")
    return str(metric.string_value) if kind == "string_value" else str(getattr(metric, kind))


def rebirth_request(now_ms: int) -> bytes:
    """The NCMD payload asking an edge node to publish its births again."""
    p = Payload(timestamp=now_ms)
    m = p.metrics.add()
    m.name = "Node Control/Rebirth"
    m.datatype = BOOLEAN
    m.boolean_value = True
    return bytes(p.SerializeToString())
