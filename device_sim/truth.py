"""Ground truth: what was injected, when, so detectors can be scored against it."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from forewarn.contract import utc

FIELDS = (
    "asset",
    "asset_class",
    "site",
    "kind",
    "mode",
    "metric",
    "onset",
    "functional_failure",
    "end",
    "onset_s",
    "functional_failure_s",
    "end_s",
)


@dataclass(frozen=True, slots=True)
class TruthEvent:
    """One injected condition. Times are seconds after the simulated start.

    kind: ``degradation`` (mode: bearing_wear, ...; ``failure`` is the functional failure),
    ``sudden`` (trip, power_loss: not predictable), ``sensor`` (dropout, stuck: a bad
    sensor, not a failing asset; ``metric`` names it). ``end``: repair or fault end.
    """

    asset: str
    asset_class: str
    site: str
    kind: str
    mode: str
    onset: float
    failure: float | None
    end: float | None
    metric: str | None = None


def rows(events: list[TruthEvent], start: datetime) -> list[dict[str, Any]]:
    """Events with absolute RFC 3339 times next to the offsets."""

    def at(sec: float | None) -> str | None:
        return None if sec is None else utc(start + timedelta(seconds=sec))

    out = []
    for e in events:
        d = asdict(e)
        out.append(
            {
                "asset": e.asset,
                "asset_class": e.asset_class,
                "site": e.site,
                "kind": e.kind,
                "mode": e.mode,
                "metric": d["metric"],
                "onset": at(e.onset),
                "functional_failure": at(e.failure),
                "end": at(e.end),
                "onset_s": e.onset,
                "functional_failure_s": e.failure,
                "end_s": e.end,
            }
        )
    return out


def write_truth(events: list[TruthEvent], start: datetime, path: str | Path) -> Path:
    """Write CSV (``.csv``) or JSON (anything else); returns the path."""
    p = Path(path)
    data = rows(events, start)
    if p.suffix.lower() == ".csv":
        with p.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS)
            w.writeheader()
            for r in data:
                w.writerow({k: "" if v is None else v for k, v in r.items()})
    else:
        p.write_text(json.dumps({"start": utc(start), "events": data}, indent=1), "utf-8")
    return p
