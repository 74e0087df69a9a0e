"""Payload models of the v1 wire contract.

The models are strict on purpose: a vendor's malformed payload must be refused with
a reason (and kept in the dead-letter table by ingest), never guessed at.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from forewarn.contract.topics import ID_PATTERN
from forewarn.errors import ContractError

VERSION = 1
MAX_SAMPLES = 10_000
MAX_METRICS = 256

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]


# checked inside pydantic-core (a Python validator per value was a tenth of decoding)
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

# RFC 3339 as JSON Schema's "date-time" means it: seconds and an offset are required (pydantic
# alone also takes "2026-01-01T00:00Z", a space for the "T" and, unless strict, Unix seconds).
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,6})?\d*([Zz]|[+-]\d{2}:\d{2})"
)


def _timestamp(value: Any) -> datetime:
    """Parse an RFC 3339 string (or take an aware datetime built in code)."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("Input should have timezone info")
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("must be an RFC 3339 date-time with seconds and a timezone offset")
    date, clock, fraction, offset = match.groups()
    try:
        return datetime.fromisoformat(
            f"{date}T{clock}{fraction or ''}{'+00:00' if offset in 'Zz' else offset}"
        )
    except ValueError as exc:
        raise ValueError(f"not a valid date-time: {exc}") from None


def _rfc3339_text(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    PlainValidator(_timestamp),
    PlainSerializer(_rfc3339_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
MAX_SEQ = 2**63 - 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Sample(_Model):
    """One timestamped reading of several metrics of one asset."""

    ts: Timestamp = Field(description="RFC 3339 time with offset, e.g. 2026-01-01T00:00:00Z")
    values: dict[MetricName, FiniteFloat] = Field(
        min_length=1, max_length=MAX_METRICS, description="metric name to number"
    )


class TelemetryBatch(_Model):
    """A batch of samples for one asset (topic ``forewarn/v1/{site}/{asset}/telemetry``)."""

    v: Literal[1] = Field(1, description="contract version")
    asset: Id
    seq: int = Field(ge=0, le=MAX_SEQ, description="per-asset message counter, for gap detection")
    samples: list[Sample] = Field(min_length=1, max_length=MAX_SAMPLES)
    historical: bool = Field(
        False, description="replayed from a store-and-forward buffer: stored, never ticketed live"
    )
    asset_class: Id | None = Field(None, description="e.g. centrifugal_pump; used to register")
    gateway: Id | None = None


class Contributor(_Model):
    metric: MetricName
    weight: float = Field(ge=0, le=1)
    value: float | None = None
    baseline: float | None = None


class DetectorInfo(_Model):
    name: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    config_hash: str = Field(min_length=1, max_length=128)


Severity = Literal["info", "warning", "critical"]
# What a later event of an open episode brings (v1 additive: its state stays "open").
Update = Literal["spike", "escalation", "fault_mode"]


class AnomalyEvent(_Model):
    """A detector's finding (topic ``forewarn/v1/{site}/{asset}/anomaly``)."""

    v: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=64, description="unique; used to de-duplicate")
    site: Id
    asset: Id
    asset_class: Id | None = None
    ts: Timestamp
    detector: DetectorInfo
    score: float = Field(ge=0, le=1)
    severity: Severity
    fault_mode: Id | None = Field(None, description="suspected fault mode, e.g. bearing_wear")
    contributors: list[Contributor] = Field(default_factory=list, max_length=MAX_METRICS)
    window: dict[MetricName, list[tuple[Timestamp, float]]] = Field(default_factory=dict)
    time_to_limit_h: float | None = Field(
        None, ge=0, description="hours until a metric's trend reaches its engineering limit"
    )
    health: float | None = Field(
        None,
        ge=0,
        le=1,
        description="the asset's health index now: 1 as healthy as its reference, the alarm"
        " opens near 1 - the alarm threshold (absent: no reference yet)",
    )
    time_to_threshold_h: float | None = Field(
        None,
        ge=0,
        description="hours until the health index's trend reaches the alarm threshold"
        " (0: there now); absent when not heading there or the trend is too weak to say",
    )
    historical: bool = False
    state: Literal["open", "cleared"] = Field(
        "open", description="'cleared' when the alarm latch releases"
    )
    episode: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="the alarm episode: its opening, updates and clear share this id;"
        " a new id is a new episode (absent: each 'open' event stands alone)",
    )
    revision: int | None = Field(
        None,
        ge=0,
        le=MAX_SEQ,
        description="0 for the event that opens the episode, then one more for each later"
        " event of it, so a consumer applies updates in order and skips a stale one",
    )
    update: list[Update] | None = Field(
        None,
        max_length=3,
        description="on a later 'open' event of an episode: what is new (a spike, an"
        " escalation of severity, a revised fault mode); absent on the opening event",
    )


DeviceState = Literal["online", "degraded", "offline"]


class DeviceStatus(_Model):
    device: Id
    asset: Id | None = None
    state: DeviceState
    last_error: str | None = None
    last_poll: Timestamp | None = None


class GatewayStatus(_Model):
    """Retained gateway status; the MQTT last will publishes ``state: offline``."""

    v: Literal[1] = 1
    gateway: Id
    site: Id
    state: DeviceState
    ts: Timestamp | None = None
    devices: list[DeviceStatus] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)


def _first_error(exc: ValidationError) -> ContractError:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(root)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ContractError(f"{loc}: {err['msg']}{more}", field=loc)


M = TypeVar("M", bound=BaseModel)


def _integral(text: str) -> float | int:
    """JSON Schema's "integer" admits ``5.0``; strict pydantic does not, so normalise."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) <= MAX_SEQ else value


def _jsonable(value: Any) -> Any:
    """A dict built in code may hold datetimes: give them their RFC 3339 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def decode(model: type[M], payload: bytes | str | dict[str, Any]) -> M:
    """Decode a payload into ``model`` exactly as its published JSON Schema says.

    Strict: ``"2.3"`` is no number, ``1`` no boolean, ``"yes"`` no boolean, a Unix time no
    timestamp. Every path that reads the contract (ingest, detectors, ticketing over MQTT and
    HTTP, the gateway's bridge) calls this, so a payload means the same everywhere. Raises
    ContractError with a one-line reason naming the field.
    """
    raw = payload if isinstance(payload, bytes | str) else json.dumps(payload, default=_jsonable)
    try:
        return model.model_validate_json(raw, strict=True)  # the fast path: valid payloads
    except ValidationError:
        pass
    except ValueError:  # e.g. invalid UTF-8 surfaced outside ValidationError
        pass
    try:
        data = json.loads(raw, parse_float=_integral)
    except RecursionError:
        raise ContractError("not JSON we accept: nested too deeply") from None
    except ValueError as exc:  # bad JSON or UTF-8, and e.g. an integer over 4300 digits
        raise ContractError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ContractError(f"payload must be a JSON object, got {type(data).__name__}")
    version = data.get("v", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise ContractError(f"unsupported contract version {version!r} (this is v{VERSION})")
    try:
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise _first_error(exc) from None
    except (ValueError, RecursionError) as exc:
        raise ContractError(f"not JSON we accept: {exc}") from None


def encode(model: BaseModel) -> bytes:
    """Compact JSON with RFC 3339 timestamps."""
    return model.model_dump_json(exclude_none=True).encode()


def utc(ts: datetime) -> str:
    """RFC 3339 in UTC with a Z suffix, the form we publish."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
