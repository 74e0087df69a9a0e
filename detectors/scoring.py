"""Scoring a detector against labels: point-wise, event-wise, and NAB's window score.

Shared by ``replay`` (for engineers) and ``bench`` (for the published figures), so both
report the same numbers the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def episodes(flags: Sequence[int | bool]) -> list[tuple[int, int]]:
    """Contiguous runs of true flags as (first, last) indexes.

    >>> episodes([0, 1, 1, 0, 1])
    [(1, 2), (4, 4)]
    """
    out: list[tuple[int, int]] = []
    start = None
    for i, f in enumerate(flags):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


@dataclass
class Report:
    """Point-wise and event-wise figures; ``merge`` sums counts over files (SKAB sums)."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    faults: int = 0
    detected: int = 0
    delays_s: list[float] | None = None
    false_episodes: int = 0
    normal_days: float = 0.0
    days: float = 0.0

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else 0.0

    @property
    def far(self) -> float:
        d = self.fp + self.tn
        return self.fp / d if d else 0.0

    @property
    def mar(self) -> float:
        d = self.fn + self.tp
        return self.fn / d if d else 0.0

    @property
    def median_delay_s(self) -> float | None:
        d = sorted(self.delays_s or [])
        if not d:
            return None
        mid = len(d) // 2
        return d[mid] if len(d) % 2 else (d[mid - 1] + d[mid]) / 2

    @property
    def false_per_asset_day(self) -> float | None:
        return self.false_episodes / self.days if self.days > 0 else None

    def merge(self, other: Report) -> Report:
        return Report(
            self.tp + other.tp,
            self.fp + other.fp,
            self.tn + other.tn,
            self.fn + other.fn,
            self.faults + other.faults,
            self.detected + other.detected,
            [*(self.delays_s or []), *(other.delays_s or [])],
            self.false_episodes + other.false_episodes,
            self.normal_days + other.normal_days,
            self.days + other.days,
        )

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.update(
            f1=self.f1,
            far=self.far,
            mar=self.mar,
            median_delay_s=self.median_delay_s,
            false_per_asset_day=self.false_per_asset_day,
        )
        return out


def evaluate(
    times: Sequence[float], labels: Sequence[int], alarms: Sequence[int], *, start: int = 0
) -> Report:
    """Figures for one asset from row ``start`` on (rows before it are training).

    >>> r = evaluate([0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 0])
    >>> (r.tp, r.fp, r.fn, r.detected, r.delays_s, r.false_episodes)
    (1, 1, 1, 1, [1.0], 0)
    """
    t, y, a = list(times[start:]), list(labels[start:]), list(alarms[start:])
    r = Report(delays_s=[])
    for yi, ai in zip(y, a, strict=True):
        if yi and ai:
            r.tp += 1
        elif ai:
            r.fp += 1
        elif yi:
            r.fn += 1
        else:
            r.tn += 1
    faults = episodes(y)
    r.faults = len(faults)
    for s, e in faults:
        hit = next((i for i in range(s, e + 1) if a[i]), None)
        if hit is not None:
            r.detected += 1
            assert r.delays_s is not None
            r.delays_s.append(float(t[hit] - t[s]))
    for s, e in episodes(a):
        if not any(y[s : e + 1]):
            r.false_episodes += 1
    if len(t) > 1:
        step = (t[-1] - t[0]) / (len(t) - 1)
        r.days = (t[-1] - t[0] + step) / 86400.0
        r.normal_days = r.days * (y.count(0) / len(y))
    return r


# --- NAB -------------------------------------------------------------------------------
NAB_PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "low_fp": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "low_fn": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}


def _sigmoid(x: float) -> float:
    if x > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def nab_raw(
    n: int, windows: Sequence[tuple[int, int]], detections: Sequence[int], profile: str = "standard"
) -> tuple[float, float, float]:
    """NAB raw score of one file, and its 'null' (no detection) and 'perfect' scores.

    ``windows`` are (first, last) row indexes, ``detections`` row indexes of alarm onsets.
    Rows of the probationary period (15% of the file, at most 750) are not scored.

    >>> s, null, perfect = nab_raw(2000, [(900, 1100)], [910])
    >>> null, round(perfect, 3), round(s, 3)
    (-1.0, 0.987, 0.983)
    """
    w = NAB_PROFILES[profile]
    probation = min(math.floor(0.15 * n), 750)
    score = 0.0
    hit = [False] * len(windows)
    for d in sorted(detections):
        if d < probation:
            continue
        inside = next((k for k, (s, e) in enumerate(windows) if s <= d <= e), None)
        if inside is not None:
            if hit[inside]:
                continue  # only the first detection in a window counts
            s, e = windows[inside]
            hit[inside] = True
            pos = -(e - d + 1) / (e - s + 1)  # -1 at the window start, ~0 at its end
            score += w["tp"] * _sigmoid(pos)
        else:
            prev = [k for k, (s, e) in enumerate(windows) if e < d]
            if prev:
                s, e = windows[prev[-1]]
                pos = (d - e) / max(e - s, 1)
                score += w["fp"] * _sigmoid(pos)  # negative, less so right after a window
            else:
                score -= w["fp"]
    score -= w["fn"] * hit.count(False)
    null = -w["fn"] * len(windows)
    perfect = w["tp"] * len(windows) * _sigmoid(-1.0) if windows else 0.0
    # NAB's perfect detector fires at the start of every window
    return score, null, perfect


def nab_normalised(raw: float, null: float, perfect: float) -> float:
    """100 * (raw - null) / (perfect - null), summed over the corpus before normalising."""
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
