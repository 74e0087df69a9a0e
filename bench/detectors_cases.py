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

A second regime generator, :func:`physics_asset`, was written later to attack the first
one's assumptions (its sensors follow load in straight lines or gentle curves, with white
noise that large load steps stand out from, and one lagged temperature): pump affinity laws,
three temperatures lagging load by 20-120 minutes, wandering noise, dropouts, short ramps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

MIN = 60.0
DAY = 86400.0


@dataclass
class Case:
    name: str
    path: Path
    onset: int | None  # first degraded row, None when healthy throughout
    failure: int | None  # the functional failure row (the last row for degrading assets)
    rows: int
    mode: str | None = None  # what degrades (bearing, leak, fouling, winding), None if healthy


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


def _load_steps(
    rng: np.random.Generator, n: int, first: tuple[float, float], step: float, floor: float
) -> np.ndarray:
    """Load levels held 4-12 h each (at 1/min), each change up or down by 0.1-``step``,
    kept within [``floor``, 1]; the first level is drawn from ``first``."""
    load = np.empty(n)
    i = 0
    level = rng.uniform(*first)
    while i < n:
        span = int(rng.uniform(4, 12) * 60)
        load[i : i + span] = level
        level = float(np.clip(level + rng.choice([-1, 1]) * rng.uniform(0.1, step), floor, 1.0))
        i += span
    return load


def _ramped(load: np.ndarray, ramp: int) -> np.ndarray:
    """Every change moved linearly over ``ramp`` samples, causally (it starts at the step)."""
    if ramp <= 1:
        return load
    return np.convolve(np.r_[np.full(ramp - 1, load[0]), load], np.ones(ramp) / ramp, "valid")


def regime_asset(
    seed: int, degrade: bool, days: float = 6.0, ramp: int = 1
) -> tuple[pd.DataFrame, int | None]:
    """One asset: load steps, a stop, ambient cycle; a slow degradation when ``degrade``.

    ``ramp`` > 1 moves the load linearly over that many minutes (a drive or an operator, not
    a switch), and the stop coasts down over 8 minutes and runs up over 5."""
    rng = np.random.default_rng(seed)
    n = int(days * DAY / MIN)
    t = np.arange(n)
    load = _ramped(_load_steps(rng, n, first=(0.5, 0.9), step=0.35, floor=0.35), ramp)
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
    df = df.round(4)
    df.attrs["mode"] = str(mode) if degrade else None
    return df, onset


def _lag(target: np.ndarray, tau: float) -> np.ndarray:
    """First-order lag (a temperature following its heat input) with time constant ``tau``."""
    return np.asarray(
        lfilter([1.0 / tau], [1.0, 1.0 / tau - 1.0], target, zi=[target[0] * (1 - 1 / tau)])[0]
    )


def _ar1(rng: np.random.Generator, n: int, sd: float, phi: float) -> np.ndarray:
    """Process noise that wanders (AR(1), stationary spread ``sd``), not white."""
    e = rng.normal(0, sd * np.sqrt(1 - phi**2), n)
    return np.asarray(lfilter([1.0], [1.0, -phi], e))


def physics_asset(seed: int, degrade: bool, days: float = 6.0) -> tuple[pd.DataFrame, int | None]:
    """One asset of other physics than :func:`regime_asset`, written without its tuning.

    Affinity laws (flow ~ speed, head and vibration ~ speed^2, power ~ speed^3), three
    temperatures that follow load with lags of 20 to 120 minutes, a wandering ambient,
    AR(1) process noise on flow, head and power, load steps every 4-12 h that ramp over 1-15
    minutes, one 2 h stop, a few dropouts (empty cells), tags named S<nn>_a..i. Half degrade
    over 2.5 days: bearing (vibration, bearing temperature), leak (flow, head down; power
    up), fouling (pressure drop, power) or winding (winding temperature)."""
    rng = np.random.default_rng(seed)
    n = int(days * DAY / MIN)
    t = np.arange(n)
    load = _load_steps(rng, n, first=(0.4, 1.0), step=0.4, floor=0.3)
    load = _ramped(load, int(rng.integers(1, 15)))
    stop = int(rng.uniform(1.5, 4.0) * 1440)
    run = np.ones(n)
    run[stop : stop + 120] = 0
    amb = 22 + 7 * np.sin(2 * np.pi * t / 1440 + rng.uniform(0, 6.28)) + _ar1(rng, n, 0.3, 0.95)
    eff = load * run
    prog = np.zeros(n)
    onset = None
    mode = rng.choice(["bearing", "leak", "fouling", "winding"])
    if degrade:
        length = int(2.5 * 1440)
        onset = n - length
        prog[onset:] = np.linspace(0, 1, length) ** 1.5
    spd = run * (0.5 + 0.5 * eff)
    flow = 80 * spd * (1 - (0.2 * prog if mode == "leak" else 0)) + _ar1(rng, n, 1.2, 0.8)
    head = (0.5 + 6 * spd**2) * (1 - (0.15 * prog if mode == "leak" else 0))
    head = head + _ar1(rng, n, 0.06, 0.7)
    power = run * (3 + 30 * spd**3) * (1 + (0.1 * prog if mode in ("leak", "fouling") else 0))
    power = power + _ar1(rng, n, 0.3, 0.5)
    vib = run * (0.8 + 2.5 * spd**2) * (1 + (0.9 * prog if mode == "bearing" else 0))
    vib = np.abs(vib + rng.normal(0, 0.1, n))
    dp = run * (0.1 + 0.6 * spd**2) * (1 + (0.8 * prog if mode == "fouling" else 0))
    dp = dp + rng.normal(0, 0.01, n)
    brg = amb + run * (10 + 30 * eff) + (8 * prog if mode == "bearing" else 0)
    wdg = amb + run * (20 + 60 * eff**2) + (15 * prog if mode == "winding" else 0)
    oil = amb + run * (8 + 15 * eff)
    brg = _lag(brg, rng.uniform(20, 60)) + rng.normal(0, 0.15, n)
    wdg = _lag(wdg, rng.uniform(45, 90)) + rng.normal(0, 0.3, n)
    oil = _lag(oil, rng.uniform(60, 120)) + rng.normal(0, 0.1, n)
    signals = [flow, head, power, vib, dp, brg, wdg, oil, amb]
    df = pd.DataFrame(
        {f"S{seed % 97:02d}_{k}": v for k, v in zip("abcdefghi", signals, strict=True)}
    ).round(3)
    for c in df.columns:
        df.loc[rng.random(n) < 0.002, c] = np.nan
    start = pd.Timestamp("2026-05-04T00:00:00Z") + pd.Timedelta(minutes=int(rng.integers(0, 600)))
    stamps = pd.date_range(start, periods=n, freq="min").strftime("%Y-%m-%dT%H:%M:%SZ")
    df.insert(0, "timestamp", stamps)
    df.attrs["mode"] = str(mode) if degrade else None
    return df, onset


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


def write_cases(
    out: Path, assets: int = 20, seed: int = 1000, ramp: int = 1, physics: bool = False
) -> list[Case]:
    """Write the regime fleet (of :func:`physics_asset` when ``physics``) and drift cases to
    ``out``; returns their truth."""
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for k in range(assets):
        if physics:
            df, onset = physics_asset(seed + k, degrade=k % 2 == 0)
        else:
            df, onset = regime_asset(seed + k, degrade=k % 2 == 0, ramp=ramp)
        p = out / f"regime_{k:02d}.csv"
        df.to_csv(p, index=False)
        failure = len(df) - 1 if onset else None
        cases.append(Case(p.stem, p, onset, failure, len(df), df.attrs.get("mode")))
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


def rises_in(alarms: list[int], onset: int, failure: int) -> bool:
    """An alarm rising edge inside [onset, failure]: the degradation itself raised it (one
    already open at the onset, a false alarm that lasted, counts in :func:`lead_rows`).

    >>> rises_in([0, 1, 1, 1], 2, 3), rises_in([0, 0, 1, 1], 1, 3)
    (False, True)
    """
    stop = min(failure, len(alarms) - 1)
    return any(alarms[i] and not alarms[i - 1] for i in range(max(onset, 1), stop + 1))


def false_edges(alarms: list[int], start: int, end: int) -> int:
    """Alarm rising edges in rows [start, end)."""
    return sum(
        1 for i in range(max(start, 1), min(end, len(alarms))) if alarms[i] and not alarms[i - 1]
    ) + int(start == 0 and bool(alarms[:1]) and alarms[0])


__all__ = [
    "Case",
    "drift_case",
    "false_edges",
    "lead_rows",
    "physics_asset",
    "regime_asset",
    "rises_in",
    "write_cases",
]
