"""What the intake remembers per edge node and device, and what it hands the writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ingest.validate import Accepted

# (time, asset, Sparkplug metric name, value, historical)
Event = tuple[datetime, str, str, str, bool]
# (group, edge, device or '', raw birth payload)
Birth = tuple[str, str, str, bytes]


@dataclass(slots=True)
class SpAccepted(Accepted):
    """An accepted Sparkplug message: rows (maybe none) plus events and a birth to keep.

    The base writer stores the rows exactly as for JSON; ``SparkplugWriter`` adds the events
    and births in the same transaction, so the acknowledgement covers all of it.
    """

    events: list[Event] = field(default_factory=list)
    births: list[Birth] = field(default_factory=list)
    historical: bool = False  # the contract's flag, from the metrics' is_historical
    v1: tuple[str, bytes] | None = None  # the batch as v1 JSON telemetry, to republish


@dataclass(slots=True)
class Table:
    """Names, types and aliases learned from one birth certificate (node or device)."""

    aliases: dict[int, tuple[str, int]] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    asset_class: str | None = None
    online: bool = True


@dataclass(slots=True)
class Node:
    """One edge node's session: bdSeq of its birth, last seq, its and its devices' tables."""

    bdseq: int | None
    seq: int | None
    table: Table
    devices: dict[str, Table] = field(default_factory=dict)
    online: bool = True
