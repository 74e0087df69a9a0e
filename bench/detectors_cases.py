"""Synthetic regime-change cases the detectors were never tuned on (our own, with truth).

Two kinds, both written as plain CSVs that ``forewarn replay --csv`` reads as a new user's
file would be read (a ``timestamp`` column, tag names nobody configured):

- a fleet of assets at one sample a minute for six days: load steps every 4-12 h (every
  sensor follows load, temperatures with a thermal lag), a daily ambient cycle, one 2 h
  stop per asset (mechanical signals to zero, temperatures cool towards ambient), and on
  half of the assets a slow degradation over 2.5 days ending in failure at the last row
  (bearing: vibration and temperature up; leak: flow and pressure down with current up;
  fouling: pressure drop and current up; all relative to what load explains);
- a slow drift: vibration +75 % and temperature +6 degC, linear over 1,000 one-minute rows
  after a day of healthy running, with a daily cycle.

The tag names are drawn from an ISA-style vocabulary at random per asset, so no role regex
and no configured metric name can help.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

MIN = 60.0
DAY = 86400.0


@dataclass
class Case:
    name: str
    path: Path
    onset: int | None  # first degraded row, None when healthy throughout
    failure: int | None  # the functional failure row (the last row for degrading assets)
    rows: int


def _tags(rng: np.random.Generator) -> list[str]:
    unit = int(rng.integers(100, 999))
    pre = rng.choice(["PU", "M", "K", "FAN", "BLW", "AG"])
    return [
        f"FT{unit}.PV",  # flow
        f"PT{unit}A",  # pressure
        f"{pre}{unit}_I",  # current
        f"VT{unit}-DE",  # vibration
        f"TT{unit}_BRG",  # bearing temperature
        f"PDT{unit}",  # pressure drop over a filter
        f"ST{unit}",  # speed
        f"TT{unit}_AMB",  # ambient
    ]


def regime_asset(
    seed: int, degrade: bool, days: float = 6.0, ramp: int = 1
) -> tuple[pd.DataFrame, int | None]:
    """One asset: load steps, a stop, ambient cycle; a slow degradation when ``degrade``.

    ``ramp`` > 1 moves the load linearly over that many minutes (a drive or an operator, not
    a switch), and the stop coasts down over 8 minutes and runs up over 5."""
    rng = np.random.default_rng(seed)
    n = int(days * DAY / MIN)
    t = np.arange(n)
    load = np.empty(n)
    i = 0
    level = rng.uniform(0.5, 0.9)
    while i < n:
        span = int(rng.uniform(4, 12) * 60)
        load[i : i + span] = level
        level = float(np.clip(level + rng.choice([-1, 1]) * rng.uniform(0.1, 0.35), 0.35, 1.0))
        i += span
    if ramp > 1:  # causal: the ramp starts where the step was
        load = np.convolve(np.r_[np.full(ramp - 1, load[0]), load], np.ones(ramp) / ramp, "valid")
    stop_at = int(rng.uniform(1.5, 3.5) * 1440)
    running = np.ones(n)
    running[stop_at : stop_at + 120] = 0.0
    if ramp > 1:
        running[stop_at - 8 : stop_at] = np.linspace(1, 0, 8)
        running[stop_at + 120 : stop_at + 125] = np.linspace(0, 1, 5)
    amb = 18 + 6 * np.sin(2 * np.pi * (t / 1440.0) + rng.uniform(0, 6.28)) + rng.normal(0, 0.2, n)
    eff = load * running
    onset = None
    prog = np.zeros(n)
    mode = rng.choice(["bearing", "leak", "fouling"])
    if degrade:
        length = int(2.5 * 1440)
        onset = n - length
        prog[onset:] = np.linspace(0, 1, length) ** 1.5
    flow = 120 * eff * (1 - (0.2 * prog if mode == "leak" else 0)) + rng.normal(0, 1.0, n)
    press = (1.0 + 5.0 * eff**2) * (1 - (0.15 * prog if mode == "leak" else 0))
    press = press + rng.normal(0, 0.05, n)
    cur = running * (12 + 40 * eff) * (1 + (0.1 * prog if mode in ("leak", "fouling") else 0))
    cur = cur + rng.normal(0, 0.4, n)
    vib = running * (1.2 + 2.0 * eff) * (1 + (0.9 * prog if mode == "bearing" else 0))
    vib = np.abs(vib + rng.normal(0, 0.08, n))
    dp = running * (0.2 + 0.5 * eff**2) * (1 + (0.8 * prog if mode == "fouling" else 0))
    dp = dp + rng.normal(0, 0.01, n)
    speed = running * 1480 * (0.6 + 0.4 * eff) + rng.normal(0, 2, n)
    # bearing temperature: first-order lag towards ambient + load-driven rise
    tau = rng.uniform(10, 30)
    target = amb + running * (15 + 25 * eff) + (8 * prog if mode == "bearing" else 0)
    temp = np.empty(n)
    temp[0] = target[0]
    for k in range(1, n):
        temp[k] = temp[k - 1] + (target[k] - temp[k - 1]) / tau
    temp = temp + rng.normal(0, 0.15, n)
    start = pd.Timestamp("2026-03-02T00:00:00Z") + pd.Timedelta(minutes=int(rng.integers(0, 600)))
    stamps = pd.date_range(start, periods=n, freq="min")
    cols = _tags(rng)
    df = pd.DataFrame(
        dict(zip(cols, [flow, press, cur, vib, temp, dp, speed, amb], strict=True)),
    )
    df.insert(0, "timestamp", stamps.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return df.round(4), onset


def drift_case(seed: int, warm_rows: int = 1440, rows: int = 1000) -> tuple[pd.DataFrame, int]:
    """Vibration +75 % and temperature +6 degC, linear over ``rows`` one-minute rows."""
    rng = np.random.default_rng(seed)
    n = warm_rows + rows + 200
    t = np.arange(n)
    day = np.sin(2 * np.pi * t / 1440.0)
    ramp = np.clip((t - warm_rows) / rows, 0, 1)
    vib = 2.0 * (1 + 0.1 * day) * (1 + 0.75 * ramp) + rng.normal(0, 0.1, n)
    temp = 45 + 4 * day + 6 * ramp + rng.normal(0, 0.3, n)
    stamps = pd.date_range("2026-04-01T00:00:00Z", periods=n, freq="min")
    df = pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
            f"X{seed}_VIB": vib.round(4),
            f"X{seed}_TMP": temp.round(3),
        }
    )
    return df, warm_rows


def write_cases(out: Path, assets: int = 20, seed: int = 1000, ramp: int = 1) -> list[Case]:
    """Write the regime fleet and drift cases to ``out``; returns their truth."""
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for k in range(assets):
        df, onset = regime_asset(seed + k, degrade=k % 2 == 0, ramp=ramp)
        p = out / f"regime_{k:02d}.csv"
        df.to_csv(p, index=False)
        cases.append(Case(p.stem, p, onset, len(df) - 1 if onset else None, len(df)))
    for k in range(4):
        df, onset = drift_case(seed + 100 + k)
        p = out / f"drift_{k}.csv"
        df.to_csv(p, index=False)
        cases.append(Case(p.stem, p, onset, onset + 1000, len(df)))
    return cases


def lead_rows(alarms: list[int], onset: int, failure: int) -> int | None:
    """Rows between the first alarm rising edge inside [onset, failure] and the failure."""
    prev = 0
    for i, a in enumerate(alarms):
        if a and not prev and onset <= i <= failure:
            return failure - i
        prev = a
    if onset < len(alarms) and alarms[onset]:
        return failure - onset
    return None


def false_edges(alarms: list[int], start: int, end: int) -> int:
    """Alarm rising edges in rows [start, end)."""
    return sum(
        1 for i in range(max(start, 1), min(end, len(alarms))) if alarms[i] and not alarms[i - 1]
    ) + int(start == 0 and bool(alarms[:1]) and alarms[0])


__all__ = ["Case", "drift_case", "false_edges", "lead_rows", "regime_asset", "write_cases"]
