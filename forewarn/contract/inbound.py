"""The inbound checks every consumer of the contract makes, written once.

Ingest, the detectors and ticketing each take a message off the broker and must refuse the
same things for the same reasons: a payload over the size limit (checked before parsing,
since its size bounds what the parser allocates), a topic that is not the kind they
consume, a payload the published schema refuses, and a payload about another asset (or,
for anomalies, site) than its topic names, which would slip past per-site broker ACLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, overload

from forewarn.contract import topics
from forewarn.contract.models import AnomalyEvent, TelemetryBatch, decode
from forewarn.errors import ContractError

Body = TypeVar("Body", TelemetryBatch, AnomalyEvent)


@dataclass(frozen=True, slots=True)
class Message(Generic[Body]):
    """A message that passed every check: where it came from and what it says."""

    where: topics.Topic
    body: Body


@overload
def decode_message(
    kind: Literal["telemetry"],
    topic: str,
    payload: bytes,
    max_bytes: int | None = None,
    limit_setting: str | None = None,
) -> Message[TelemetryBatch]: ...


@overload
def decode_message(
    kind: Literal["anomaly"],
    topic: str,
    payload: bytes,
    max_bytes: int | None = None,
    limit_setting: str | None = None,
) -> Message[AnomalyEvent]: ...


def decode_message(
    kind: Literal["telemetry", "anomaly"],
    topic: str,
    payload: bytes,
    max_bytes: int | None = None,
    limit_setting: str | None = None,
) -> Message[TelemetryBatch] | Message[AnomalyEvent]:
    """Check and decode one inbound message; raise ContractError with the reason.

    ``limit_setting`` names the setting behind ``max_bytes`` in the reason, so an operator
    knows what to raise.
    """
    if max_bytes is not None and len(payload) > max_bytes:
        where = f" ({limit_setting})" if limit_setting else ""
        raise ContractError(
            f"payload of {len(payload)} bytes is larger than the limit of {max_bytes}{where}"
        )
    parsed = topics.parse(topic)
    if parsed.kind != kind or parsed.asset is None:
        raise ContractError(f"not a{'n' if kind == 'anomaly' else ''} {kind} topic: {topic!r}")
    if kind == "telemetry":
        batch = decode(TelemetryBatch, payload)
        _same("asset", batch.asset, parsed.asset)
        return Message(parsed, batch)
    event = decode(AnomalyEvent, payload)
    _same("site", event.site, parsed.site)
    _same("asset", event.asset, parsed.asset)
    return Message(parsed, event)


def _same(what: str, in_payload: str, in_topic: str | None) -> None:
    if in_payload != in_topic:
        raise ContractError(
            f"{what} {in_payload!r} in the payload does not match {in_topic!r} in the topic"
        )
