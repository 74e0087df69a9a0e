"""What a reliability engineer tunes with: a grid of configurations over a labelled set,
and a plot of one replay in engineering units with the health index and its bar.

Grid figures are the ones the bench reports (detectors/scoring.py), per configuration:
detection rate, median lead time, false episodes per asset-day, point-wise F1/FAR. A set
without labels is read as run-to-failure (each unit's last row is its failure; alarms in the
first half of a unit's history are false).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from detectors.configuration import DetectorConfig, retired
from detectors.replay import Frame, Result, replay, unit_rows
from detectors.scoring import Report, episodes, evaluate
from forewarn.errors import ForewarnError


class GridError(ForewarnError):
    """A ``--grid`` argument that cannot be read."""


def parse_grid(specs: Sequence[str]) -> list[dict[str, Any]]:
    """``["health.alpha=0.02,0.05", "alarm.warmup=40"]`` -> every combination, as dicts.

    >>> parse_grid(["a.b=1,2", "c=x"])
    [{'a.b': 1, 'c': 'x'}, {'a.b': 2, 'c': 'x'}]
    """
    axes: list[list[tuple[str, Any]]] = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise GridError(f"--grid {spec!r}: expected key=v1,v2,...")
        if retired(key.strip()):
            raise GridError(f"--grid {spec!r}: {key.strip()} is retired, no score reads it")
        axes.append([(key.strip(), yaml.safe_load(v)) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


@dataclass
class GridRow:
    values: dict[str, Any]
    units: int
    detected: int
    faults: int
    median_lead: float | None
    lead_unit: str
    false_per_day: float | None
    f1: float | None
    far: float | None


def grid(
    frames: Sequence[Frame], base: DetectorConfig, combos: list[dict[str, Any]], cls: str | None
) -> list[GridRow]:
    """Replay every frame under every combination (each one validated like the YAML)."""
    rows = []
    for values in combos:
        cfg = base.with_values(values).for_class(cls)
        rows.append(_score(frames, [replay(f, cfg) for f in frames], cfg.alarm.warmup, values))
    return rows


def _score(
    frames: Sequence[Frame], results: Sequence[Result], warm: int, values: dict[str, Any]
) -> GridRow:
    total = Report(delays_s=[])
    leads: list[float] = []
    units = faults = detected = false = 0
    days = 0.0
    labelled = all(f.labels is not None for f in frames)
    real = all(f.clock for f in frames)
    for frame, res in zip(frames, results, strict=True):
        for idx in unit_rows(frame):
            units += 1
            t = frame.times[idx].tolist()
            a = [res.alarms[i] for i in idx]
            if labelled:
                assert frame.labels is not None
                y = [int(frame.labels[i]) for i in idx]
                total = total.merge(evaluate(t, y, a, start=min(warm, len(idx))))
                continue
            # run to failure: the last row is the failure, the first half is healthy
            faults += 1
            onsets = [s for s, _ in episodes(a) if s >= warm]
            false += sum(1 for s in onsets if s < len(a) // 2)
            late = [s for s in onsets if s >= len(a) // 2]
            if late:
                detected += 1
                lead = (t[-1] - t[late[0]]) / (3600.0 if real else 1.0)
                leads.append(lead)
            span = (t[len(a) // 2] - t[min(warm, len(a) // 2)]) / (86400.0 if real else 1.0)
            days += max(0.0, span)
    unit = "h" if real else "rows"
    if labelled:
        delays = [d / (3600.0 if real else 1.0) for d in total.delays_s or []]
        return GridRow(values, units, total.detected, total.faults,
                       statistics.median(delays) if delays else None, f"delay {unit}",
                       total.false_per_asset_day, total.f1, total.far)  # fmt: skip
    per_day = false / days if days and real else None
    return GridRow(values, units, detected, faults, statistics.median(leads) if leads else None,
                   f"lead {unit}", per_day, None, None)  # fmt: skip


def save_plot(path: Path, frame: Frame, result: Result, on_threshold: float, warmup: int) -> None:
    """Signals in their own units, the health index with its bar; warm-up and onsets marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if frame.units is not None:  # a multi-unit file: the first unit
        idx = unit_rows(frame)[0]
        frame = Frame(
            frame.times[idx],
            [frame.stamps[i] for i in idx],
            frame.columns,
            frame.values[idx],
            None if frame.labels is None else frame.labels[idx],
        )
        result = Result(frame.times, frame.stamps, [result.scores[i] for i in idx],
                        [result.alarms[i] for i in idx])  # fmt: skip
    x: Any = frame.times.astype("datetime64[s]") if frame.clock else frame.times
    spread = np.nanstd(frame.values, axis=0) if len(frame.times) else np.zeros(0)
    level = np.abs(np.nanmean(frame.values, axis=0)) if len(frame.times) else spread
    shown = [
        c for c, sd, lv in zip(frame.columns, spread, level, strict=True) if sd > 1e-9 * (1 + lv)
    ]
    shown = shown[:6]
    fig, axes = plt.subplots(len(shown) + 1, 1, sharex=True, figsize=(12, 1.6 * len(shown) + 3))
    onsets = [s for s, _ in episodes(result.alarms)]
    label_onsets = (
        [s for s, _ in episodes(frame.labels.tolist())] if frame.labels is not None else []
    )
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes[:-1], shown, strict=False):
        ax.plot(x, frame.values[:, frame.columns.index(name)], lw=0.7)
        ax.set_ylabel(name, fontsize=7)
    ax = axes[-1]
    health = [1.0 - s for s in result.scores]
    ax.plot(x, health, color="black", lw=0.8, label="health index")
    ax.axhline(1.0 - on_threshold, color="red", ls="--", lw=0.8, label="alarm bar")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("health")
    for a in axes:
        if 0 < warmup < len(x):
            a.axvspan(x[0], x[min(warmup, len(x) - 1)], color="grey", alpha=0.15)
        for s in onsets:
            a.axvline(x[s], color="red", lw=0.8)
        for s in label_onsets:
            a.axvline(x[s], color="blue", lw=0.8, ls=":")
    ax.legend(fontsize=7, loc="lower left", title="grey: warm-up, red: alarm, blue: labelled onset")
    ax.set_xlabel("time (UTC)" if frame.clock else "row / cycle")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
