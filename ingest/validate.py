"""Turn one MQTT message into telemetry rows, or into a dead letter with a reason.

The wire contract (forewarn.contract) decides what a valid batch is; this module adds the
ingest policy on top: the topic must name the payload's asset, timestamps must sit within
a window around now. Whether an unknown asset is refused (auto-registration off) is
decided by the writer, which holds the database connection and its retry logic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from forewarn.contract import TelemetryBatch, decode, topics
from forewarn.errors import ContractError

Row = tuple[datetime, str, str, float]


@dataclass(slots=True)
class Accepted:
    """A valid message: its rows and what the asset registry learns from it."""

    topic: str
    payload: bytes
    site: str
    asset: str
    asset_class: str | None
    gateway: str | None
    rows: list[Row]
    samples: int
    newest: datetime
    oldest: datetime


@dataclass(slots=True)
class Rejected:
    topic: str
    payload: bytes
    reason: str


@dataclass
class Policy:
    max_future: timedelta
    max_past: timedelta
    max_bytes: int | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def check(topic: str, payload: bytes, policy: Policy) -> Accepted | Rejected:
    """Validate one message; never raises for bad input."""
    try:
        # Before parsing: a message's size bounds what the parser allocates, and the inbox
        # bounds messages by count only.
        if policy.max_bytes is not None and len(payload) > policy.max_bytes:
            raise ContractError(
                f"payload of {len(payload)} bytes is larger than the limit of "
                f"{policy.max_bytes} (ingest.max_payload_bytes)"
            )
        where = topics.parse(topic)
        if where.kind != "telemetry" or where.asset is None:
            raise ContractError(f"not a telemetry topic: {topic!r}")
        batch = decode(TelemetryBatch, payload)
        if batch.asset != where.asset:
            raise ContractError(
                f"asset {batch.asset!r} in the payload does not match {where.asset!r} in the topic"
            )
        now = policy.now()
        # Compare epoch floats: comparing aware datetimes asks each for its offset twice.
        epochs = [s.ts.timestamp() for s in batch.samples]
        newest = batch.samples[epochs.index(max(epochs))].ts
        oldest = batch.samples[epochs.index(min(epochs))].ts
        if newest > now + policy.max_future:
            raise ContractError(
                f"timestamp {newest.isoformat()} is more than "
                f"{policy.max_future.total_seconds():.0f} s in the future"
            )
        if oldest < now - policy.max_past:
            raise ContractError(
                f"timestamp {oldest.isoformat()} is older than the accepted "
                f"{policy.max_past.total_seconds() / 86400:g} days"
            )
    except ContractError as exc:
        return Rejected(topic, payload, exc.reason)
    except Exception as exc:  # a bug must not take the consumer down or lose the payload
        return Rejected(topic, payload, f"unexpected {type(exc).__name__}: {exc}")
    asset = batch.asset
    rows = [(s.ts, asset, m, v) for s in batch.samples for m, v in s.values.items()]
    return Accepted(
        topic=topic,
        payload=payload,
        site=where.site,
        asset=asset,
        asset_class=batch.asset_class,
        gateway=batch.gateway,
        rows=rows,
        samples=len(batch.samples),
        newest=newest,
        oldest=oldest,
    )
