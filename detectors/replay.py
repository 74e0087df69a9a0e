"""Replay a history through a detector configuration, strictly causally.

Rows are fed one by one in file order to the same :class:`AssetDetector` the live service
runs, so the score and latched alarm of row *i* depend on rows 0..i only (the test suite
proves it by changing later rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detectors.asset import AssetDetector
from detectors.configuration import ClassConfig
from detectors.evidence import safe_metric
from forewarn.contract import AnomalyEvent
from forewarn.errors import ForewarnError


class ReplayError(ForewarnError):
    """The input cannot be replayed (missing file or column, no numeric data)."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        super().__init__(reason if path is None else f"{path}: {reason}")
        self.reason = reason
        self.path = path


@dataclass
class Frame:
    """A loaded CSV: epoch seconds, the metric matrix, optional labels, raw time strings."""

    times: np.ndarray
    stamps: list[str]
    columns: list[str]
    values: np.ndarray
    labels: np.ndarray | None = None
    units: list[str] | None = None  # one machine per distinct value (multi-unit files)


@dataclass
class Result:
    times: np.ndarray
    stamps: list[str]
    scores: list[float]
    alarms: list[int]
    events: list[AnomalyEvent] = field(default_factory=list)


def read_csv(
    path: str | Path,
    *,
    sep: str = ",",
    time_column: str | None = None,
    columns: Sequence[str] | None = None,
    label_column: str | None = None,
    unit_column: str | None = None,
) -> Frame:
    """Load a CSV for replay; non-numeric cells become NaN (skipped, never a crash).

    A column called unit/engine/machine/asset (or ``unit_column``) splits the file into
    machines, each replayed by its own detector; a cycle counter serves as time.
    """
    p = Path(path)
    try:
        df = pd.read_csv(p, sep=sep)
    except FileNotFoundError:
        raise ReplayError("file not found", path=str(p)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReplayError(f"not a readable CSV: {exc}", path=str(p)) from None
    if time_column is None:
        guess = [c for c in df.columns if str(c).strip().lower() in _TIME_NAMES]
        time_column = guess[0] if guess else None
    if unit_column is None:
        guess = [c for c in df.columns if str(c).strip().lower() in _UNIT_NAMES]
        unit_column = guess[0] if guess else None
    wanted = [time_column, label_column, unit_column, *(columns or [])]
    missing = [c for c in wanted if c is not None and c not in df.columns]
    if missing:
        raise ReplayError(
            f"no column(s) {', '.join(missing)}; the file has {', '.join(map(str, df.columns))}",
            path=str(p),
        )
    if time_column is not None:
        stamps = df[time_column].astype(str).tolist()
        numeric = pd.api.types.is_numeric_dtype(df[time_column])  # a cycle counter, epoch s
        parsed = pd.to_datetime(df[time_column], errors="coerce", utc=True)
        if numeric or parsed.isna().all():
            times = pd.to_numeric(df[time_column], errors="coerce").to_numpy(float)
        else:
            times = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(float)
    else:
        times = np.arange(len(df), dtype=float)
        stamps = [str(i) for i in range(len(df))]
    if columns is None:
        skip = {time_column, label_column, unit_column, "anomaly", "changepoint", "label"}
        columns = [c for c in df.columns if c not in skip]
    data = df[list(columns)].apply(pd.to_numeric, errors="coerce")
    data = data.loc[:, data.notna().any()]
    if data.shape[1] == 0:
        raise ReplayError("no numeric metric columns to replay", path=str(p))
    labels = None
    if label_column is not None:
        labels = pd.to_numeric(df[label_column], errors="coerce").fillna(0).to_numpy() > 0
        labels = labels.astype(int)
    units = None if unit_column is None else df[unit_column].astype(str).tolist()
    return Frame(times, stamps, [str(c) for c in data.columns], data.to_numpy(float), labels, units)


_TIME_NAMES = ("time", "timestamp", "datetime", "ts", "date", "cycle", "cycles", "time_cycles")
_UNIT_NAMES = ("unit", "unit_id", "unit_number", "unit_nr", "engine", "engine_id", "machine",
               "machine_id", "asset", "asset_id")  # fmt: skip


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
        if on_row is not None:
            on_row(i)
    return Result(frame.times, frame.stamps, scores, alarms, events)


def unit_rows(frame: Frame) -> list[list[int]]:
    """Row indexes of each unit, in order of first appearance (one list without units)."""
    if frame.units is None:
        return [list(range(len(frame.times)))]
    out: dict[str, list[int]] = {}
    for i, u in enumerate(frame.units):
        out.setdefault(u, []).append(i)
    return list(out.values())
