"""Replay a history through a detector configuration, strictly causally.

Rows are fed one by one in time order (detectors/history_csv.py reads the file) to the
same :class:`AssetDetector` the live service runs, so the score and latched alarm of row *i*
depend on rows 0..i only (the test suite proves it by changing later rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from detectors.asset import AssetDetector
from detectors.configuration import ClassConfig
from detectors.evidence import safe_metric
from detectors.history_csv import Frame, ReplayError, read_csv
from forewarn.contract import AnomalyEvent


@dataclass
class Result:
    times: np.ndarray
    stamps: list[str]
    scores: list[float]
    alarms: list[int]
    events: list[AnomalyEvent] = field(default_factory=list)
    event_rows: list[int] = field(default_factory=list)  # the row each event came from
    interval_s: float | None = None  # the sampling interval the detectors measured (a clock)
    retimed: bool = False  # their counts were shortened to it (detectors/timing.py)
    # each unit's reference as it ended (its last ``baseline_log`` entry; None: never learned)
    references: list[dict[str, Any] | None] = field(default_factory=list)


def _utc(text: str) -> pd.Timestamp:
    ts = pd.Timestamp(text)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def read_db(
    conn: Any,
    asset: str,
    *,
    since: str | None = None,
    until: str | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[Frame, str | None]:
    """An asset's stored telemetry (narrow rows pivoted to one row per timestamp) and its
    registered class."""
    try:
        start, end = _utc(since or "1970-01-01"), _utc(until or "2262-01-01")
    except ValueError as exc:
        raise ReplayError(f"bad time range: {exc}") from None
    rows = conn.execute(
        """select time, metric, value from telemetry
           where asset = %s and time >= %s and time < %s order by time""",
        (asset, start.to_pydatetime(), end.to_pydatetime()),
    ).fetchall()
    if not rows:
        raise ReplayError(f"no telemetry stored for asset {asset!r} in that range")
    cls = conn.execute("select asset_class from assets where asset = %s", (asset,)).fetchone()
    df = pd.DataFrame(rows, columns=["time", "metric", "value"])
    wide = df.pivot_table(index="time", columns="metric", values="value", aggfunc="last")
    if columns:
        missing = [c for c in columns if c not in wide.columns]
        if missing:
            raise ReplayError(f"asset {asset!r} has no metric(s) {', '.join(missing)}")
        wide = wide[list(columns)]
    idx = pd.DatetimeIndex(wide.index).tz_convert("UTC")
    times = (idx - pd.Timestamp(0, tz="UTC")).total_seconds().to_numpy(float)
    stamps = [t.isoformat().replace("+00:00", "Z") for t in idx]
    frame = Frame(times, stamps, [str(c) for c in wide.columns], wide.to_numpy(float))
    return frame, (cls[0] if cls else None)


def replay(
    frame: Frame,
    config: ClassConfig,
    *,
    asset: str = "replay",
    on_row: Callable[[int], None] | None = None,
) -> Result:
    """Run the detector over every row, in order; one score and alarm per input row.

    With units, each unit has its own detector (its own warm-up and reference).
    """
    dets: dict[str, AssetDetector] = {}
    cols = frame.columns
    scores: list[float] = []
    alarms: list[int] = []
    events: list[AnomalyEvent] = []
    event_rows: list[int] = []
    units = frame.units or [""] * len(frame.times)
    rows = zip(frame.times.tolist(), frame.values.tolist(), units, strict=True)
    for i, (t, row, unit) in enumerate(rows):
        det = dets.get(unit)
        if det is None:
            name = safe_metric(f"{asset}-{unit}") if unit else asset
            det = dets[unit] = AssetDetector(name, config)
        if t != t:  # unparseable time: the row cannot be placed, keep the previous state
            scores.append(det.score)
            alarms.append(int(det.alarm.active))
            continue
        step = det.update(t, dict(zip(cols, row, strict=True)))
        scores.append(step.score)
        alarms.append(int(step.alarm))
        if step.event is not None:
            events.append(step.event)
            event_rows.append(i)
        if on_row is not None:
            on_row(i)
    measured = [d.interval for d in dets.values() if d.interval is not None]
    return Result(
        frame.times, frame.stamps, scores, alarms, events, event_rows,
        float(np.median(measured)) if measured else None,
        any(d.cfg is not config for d in dets.values()),
        [d.baseline_log[-1] if d.baseline_log else None for d in dets.values()],
    )  # fmt: skip


def reference_line(result: Result) -> str:
    """What the detector took for healthy, for the summary: one unit's reference (its rows,
    their span, why it was learned), or how many units learned one, and how many learned a
    first day that ended in alarm (detector 2.11: docs/detectors.md)."""
    refs = result.references
    done = [r for r in refs if r is not None]
    whole = sum(1 for r in done if str(r["reason"]).endswith("the alarm's too"))
    if len(refs) == 1 and done:
        r = done[0]
        return f"{r['rows']} rows, {_at(r['ref_from'])} to {_at(r['ref_to'])} ({r['reason']})"
    if not done:
        return "none learned (too few running rows)"
    rows = int(np.median([r["rows"] for r in done]))
    text = f"learned for {len(done)} of {len(refs)} units (median {rows} rows)"
    return text + (f"; {whole} learned a first day that ended in alarm" if whole else "")


def _at(t: float | None) -> str:
    """A reference's bound: a clock as UTC to the minute, a cycle counter as it is."""
    if t is None:
        return "?"
    if t > 1e8:  # seconds since 1970 (a counter this large is no cycle count)
        return pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
    return f"{t:g}"


def merged(named: Sequence[tuple[str, Frame, Result]]) -> tuple[Frame, Result]:
    """Several files replayed one by one, as one fleet: each file a unit (``file/unit`` where
    a file holds several), rows and events in file order. Metric values are not carried (a
    union of every file's tags would be mostly empty): plot one file, not the fleet."""
    frames = [f for _, f, _ in named]
    units = [
        f"{name}/{f.units[i]}" if f.units is not None else name
        for name, f, _ in named
        for i in range(len(f.times))
    ]
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    labels = None
    if all(f.labels is not None for f in frames):
        labels = np.concatenate([f.labels for f in frames if f.labels is not None])
    notes = [f"{name}: {note}" for name, f, _ in named for note in f.notes]
    times = np.concatenate([f.times for f in frames])
    frame = Frame(
        times, [s for f in frames for s in f.stamps], columns, np.zeros((len(times), 0)),
        labels, units, notes,
    )  # fmt: skip
    measured = [r.interval_s for *_, r in named if r.interval_s is not None]
    result = Result(times, frame.stamps, [], [], [], [],
                    float(np.median(measured)) if measured else None,
                    any(r.retimed for *_, r in named))  # fmt: skip
    for *_, r in named:
        offset = len(result.scores)
        result.scores += r.scores
        result.alarms += r.alarms
        result.events += r.events
        result.event_rows += [offset + i for i in r.event_rows]
        result.references += r.references
    return frame, result


def unit_rows(frame: Frame) -> list[list[int]]:
    """Row indexes of each unit, in order of first appearance (one list without units)."""
    if frame.units is None:
        return [list(range(len(frame.times)))]
    out: dict[str, list[int]] = {}
    for i, u in enumerate(frame.units):
        out.setdefault(u, []).append(i)
    return list(out.values())


__all__ = [
    "Frame",
    "ReplayError",
    "Result",
    "merged",
    "read_csv",
    "read_db",
    "reference_line",
    "replay",
    "unit_rows",
]
