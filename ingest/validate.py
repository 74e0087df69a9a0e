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

from forewarn.contract import decode_message
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
        # Size is checked before parsing: the inbox bounds messages by count only.
        msg = decode_message(
            "telemetry", topic, payload, policy.max_bytes, "ingest.max_payload_bytes"
        )
        where, batch = msg.where, msg.body
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
