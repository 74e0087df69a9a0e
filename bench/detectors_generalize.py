"""Does the shipped default generalise? Every dev data set, one configuration, published
figures beside ours, and which figures were tuned on and which are held out.

    python -m bench.detectors_generalize                       # everything
    python -m bench.detectors_generalize --only cases,cmapss   # some groups
    python -m bench.detectors_generalize --set health.alpha=0.1 --set alarm.clear_after=30

Groups and protocols (the only per-group setting is the warm-up the protocol prescribes,
passed as ``--warmup`` would be):
- ``cases``: our synthetic regime fleet (20 assets x 6 days) and slow drift cases
  (bench/detectors_cases.py), with the shipped defaults as they are (as review replays
  unknown data: 300-sample warm-up, reference growing over the first day) and with a fixed
  one-day warm-up (``cases_day``); tuned on. ``cases_new``: the same generator with seeds
  nothing was chosen on (held out, but only from the seeds: we wrote the generator);
  ``cases_fresh``: seeds 13000+, first run after the operating-point interpolation
  (detectors/operating.py) and its regime settings were fixed (held out the same way).
  ``cases_smooth5`` / ``cases_smooth20``: the tuned seeds as a historian stores them, every
  metric a 5- or 20-row moving average (where roaming relative to the fastest metric was
  designed); ``cases_smooth5_new`` / ``cases_smooth20_new``: the same on seeds 9000+ (held out).
  ``cases_ramp30`` / ``cases_ramp30_new``: seeds 1000+ / 9000+ with every load change ramped
  over 30 minutes and the stop coasting down (the ramp fix was found on seeds 20000-21000, so
  for it both are held out; 1000+ is where the other settings were tuned).
  ``cases_physics`` / ``cases_physics_new`` / ``cases_physics_fresh``: seeds 30000+ / 31000+
  / 32000+ of a second generator (``physics_asset``) written to attack the first one's
  assumptions: affinity-law curves, temperatures lagging load by 20-120 minutes, wandering
  noise, dropouts, short ramps. The step rules of detector 2.6.0 were traced on 30000+ and
  chosen between looking at 30000+ and 31000+ (both tuned on); 32000+ was first run after
  they were fixed (held out).
  ``cases_10min`` / ``cases_physics_10min``: seeds 1000+ / 30000+ exported as 10-minute means
  (the detector shortens its counts to the same time: detectors/timing.py; its rate rule was
  chosen on these and on 31000+ / 2000+ at 5, 10 and 30 minutes); ``cases_10min_new`` /
  ``cases_physics_10min_fresh``: seeds 9000+ / 32000+ the same way (held out).
- ``cmapss``: NASA C-MAPSS FD003 test set, each engine alone, warm-up 40 rows: alarmed at
  least 10 rows before its last row (engines with RUL < 30), alarms in the first half;
  the issue's 15-line baseline beside it; tuned on.
- ``sim``: the device_sim fleet (bench/detectors_sim.py); tuned on.
- ``skab``: all runs in shared/ (valve1 + anomaly-free), first 400 rows training; tuned on
  (chart_z, shrink and the wander scale were chosen looking at it).
- ``nab``: files in shared/, standard profile, one detection per alarm rising edge,
  warm-up = the probationary period; tuned on (the surprise parameters).

Every group outside ``HELD_OUT`` has been looked at while tuning (``cases_physics_new``
too): the truly held-out figures are the ones review measures on data we do not have (the
issue's hidden checks).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bench.detectors_cases import Case, false_edges, lead_rows, rises_in, write_cases
from bench.detectors_eval import NAB_PUBLISHED, SKAB_PUBLISHED, datasets
from detectors.asset import MIN_REFERENCE_ROWS
from detectors.configuration import DetectorConfig, load_config
from detectors.replay import Frame, read_csv, replay
from detectors.scoring import Report, episodes, evaluate, nab_normalised, nab_raw
from detectors.timing import retimed

RESULTS = Path(__file__).resolve().parent / "results"


def _cfg(base: DetectorConfig, warmup: int) -> Any:
    return base.override(warmup=warmup).for_class("default")


def cases_day(base: DetectorConfig) -> dict[str, Any]:
    return cases(base, warmup=1440)


def cases_new(base: DetectorConfig) -> dict[str, Any]:
    """The same generator with seeds no setting was ever chosen on (held out)."""
    return cases(base, seed=9000)


def cases_fresh(base: DetectorConfig) -> dict[str, Any]:
    """Seeds first run after the operating-point interpolation was fixed (held out)."""
    return cases(base, seed=13000)


def smoothed(frame: Frame, width: int) -> Frame:
    """Every metric as a historian stores it: the moving average of its last ``width`` rows."""
    vals = pd.DataFrame(frame.values).rolling(width, min_periods=1).mean().to_numpy()
    return Frame(frame.times, frame.stamps, frame.columns, vals, frame.labels, frame.units)


def resampled(frame: Frame, every: int) -> Frame:
    """As a historian exports it: the mean of each ``every`` rows, stamped at the first."""
    n = len(frame.times) // every * every
    vals = np.nanmean(frame.values[:n].reshape(-1, every, frame.values.shape[1]), axis=1)
    idx = list(range(0, n, every))
    return Frame(frame.times[idx], [frame.stamps[i] for i in idx], frame.columns, vals)


def cases(
    base: DetectorConfig,
    warmup: int | None = None,
    seed: int = 1000,
    smooth: int = 1,
    ramp: int = 1,
    physics: bool = False,
    every: int = 1,
) -> dict[str, Any]:
    # shipped defaults as they are (a growing commissioning included) unless a warm-up is given
    cfg = base.for_class("default") if warmup is None else _cfg(base, warmup)
    # rows of ``every`` minutes: the detector shortens its counts to the same time
    warmup = max(MIN_REFERENCE_ROWS, retimed(cfg, 60.0 * every).alarm.warmup)
    out = Path(tempfile.mkdtemp(prefix="fw-cases-"))
    truth = write_cases(out, seed=seed, ramp=ramp, physics=physics)
    leads, hits, false_eps, days, drift = [], 0, 0, 0.0, []
    degraded = latched = 0
    modes: dict[str, list[int]] = {}  # fault mode: [degradations, seen, >= 24 h ahead]
    for c in truth:
        frame = read_csv(c.path)
        if smooth > 1:
            frame = smoothed(frame, smooth)
        if every > 1:
            if c.name.startswith("drift"):
                continue  # a drift case is 1,000 one-minute rows: too short to export coarser
            frame = resampled(frame, every)
            rows = len(frame.times)
            onset = None if c.onset is None else c.onset // every
            c = Case(c.name, c.path, onset, None if onset is None else rows - 1, rows, c.mode)
        alarms = replay(frame, cfg, asset=c.name).alarms
        if c.name.startswith("drift"):
            assert c.onset is not None and c.failure is not None
            lead = lead_rows(alarms, c.onset, len(alarms) - 1)
            delay = None if lead is None else (len(alarms) - 1 - lead) - c.onset
            drift.append({"delay_rows": delay, "false": false_edges(alarms, warmup, c.onset)})
            continue
        end = c.onset if c.onset is not None else c.rows
        false_eps += false_edges(alarms, warmup, end)
        days += max(0, end - warmup) * every / 1440.0
        if c.onset is not None and c.failure is not None:
            degraded += 1
            lead = lead_rows(alarms, c.onset, c.failure)
            m = modes.setdefault(c.mode or "?", [0, 0, 0])
            m[0] += 1
            if lead is not None:
                ahead = lead * every >= 24 * 60
                leads.append(lead * every / 60.0)
                hits += ahead
                m[1] += 1
                m[2] += ahead
                latched += not rises_in(alarms, c.onset, c.failure)
    return {
        "assets": sum(1 for c in truth if c.name.startswith("regime")),
        "degradations": degraded,
        "detected": len(leads),
        "detected_24h": hits,
        "by_mode": {
            k: dict(zip(("degradations", "seen", "ahead_24h"), v, strict=True))
            for k, v in sorted(modes.items())
        },
        "latched_at_onset": latched,  # of the detected: only by an alarm open since before
        "median_lead_h": statistics.median(leads) if leads else None,
        "false_episodes": false_eps,
        "healthy_asset_days": days,
        "false_per_100_asset_days": 100 * false_eps / days if days else None,
        "drift": drift,
        "warmup": warmup,
        "seed": seed,
        "smooth": smooth,
        "ramp": ramp,
        "physics": physics,
        "every": every,
    }


def cmapss(base: DetectorConfig, warmup: int = 40) -> dict[str, Any]:
    root = datasets() / "cmapss-fd003"
    raw = pd.read_csv(root / "test_FD003.txt", sep=r"\s+", header=None)
    rul = [int(x) for x in (root / "RUL_FD003.txt").read_text().split()]
    cols = [f"c{i}" for i in range(raw.shape[1])]
    raw.columns = cols
    cfg = _cfg(base, warmup)
    ours: dict[str, Any] = {"alarm10": 0, "first_half": 0, "leads": []}
    basel: dict[str, Any] = {"alarm10": 0, "first_half": 0, "leads": []}
    near = 0
    for unit, g in raw.groupby("c0"):
        vals = g[cols[2:]].to_numpy(float)
        n = len(vals)
        frame = Frame(g["c1"].to_numpy(float), [str(x) for x in g["c1"]], cols[2:], vals, None)
        alarms = replay(frame, cfg, asset=f"e{unit}").alarms
        base_alarms = _baseline(vals, warmup)
        short = rul[int(unit) - 1] < 30
        near += short
        for res, al in ((ours, alarms), (basel, base_alarms)):
            onsets = [s for s, _ in episodes(al[warmup:])]
            if any(s + warmup < n // 2 for s in onsets):
                res["first_half"] += 1
            if short:
                first = next((i for i in range(n) if al[i]), None)
                if first is not None and first <= n - 1 - 10:
                    res["alarm10"] += 1
                    res["leads"].append(n - 1 - first)
    for res in (ours, basel):
        res["median_lead"] = statistics.median(res["leads"]) if res["leads"] else None
        del res["leads"]
    return {"engines": int(raw["c0"].nunique()), "rul_below_30": near, "ours": ours,
            "baseline": basel}  # fmt: skip


def _baseline(vals: np.ndarray, warmup: int) -> list[int]:
    """The issue's 15-line causal baseline: mean |z| vs the first rows, EWMA 0.1, bar 2.0."""
    ref = vals[:warmup]
    mu, sd = ref.mean(0), ref.std(0)
    ok = sd > 1e-9
    e, out = 0.0, []
    for i, row in enumerate(vals):
        if i < warmup:
            out.append(0)
            continue
        z = np.abs((row[ok] - mu[ok]) / sd[ok]).mean()
        e += 0.1 * (z - e)
        out.append(int(e > 2.0))
    return out


def skab(base: DetectorConfig) -> dict[str, Any]:
    root = datasets() / "skab"
    cfg = _cfg(base, 400)
    total = Report(delays_s=[])
    files = sorted(p for p in root.rglob("*.csv") if "anomaly-free" not in p.parts)
    for f in files:
        frame = read_csv(f, sep=";", label_column="anomaly")
        res = replay(frame, cfg, asset=f.stem)
        assert frame.labels is not None
        total = total.merge(
            evaluate(frame.times.tolist(), frame.labels.tolist(), res.alarms, start=400)
        )
    free = read_csv(root / "anomaly-free" / "anomaly-free.csv", sep=";")
    res = replay(free, cfg, asset="free")
    return {
        "files": len(files),
        "f1": total.f1,
        "far": total.far,
        "mar": total.mar,
        "faults": total.faults,
        "detected": total.detected,
        "median_delay_s": total.median_delay_s,
        "false_episodes": total.false_episodes,
        "free_false_episodes": len(episodes(res.alarms[400:])),
        "free_hours": (free.times[-1] - free.times[400]) / 3600,
    }


def nab(base: DetectorConfig) -> dict[str, Any]:
    root = datasets() / "nab"
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    raw = null = perfect = 0.0
    files = 0
    for name in sorted(windows):
        path = root / "data" / name
        if not path.exists():
            continue
        frame = read_csv(path, columns=["value"])
        n = len(frame.times)
        probation = min(math.floor(0.15 * n), 750)
        res = replay(frame, _cfg(base, probation), asset="nab")
        onsets = [s for s, _ in episodes(res.alarms)]
        ts = pd.to_datetime(pd.read_csv(path)["timestamp"]).to_numpy()
        wins = []
        for s, e in windows[name]:
            i = int(np.searchsorted(ts, np.datetime64(pd.Timestamp(s)), side="left"))
            j = int(np.searchsorted(ts, np.datetime64(pd.Timestamp(e)), side="right")) - 1
            wins.append((i, min(j, n - 1)))
        r, nl, pf = nab_raw(n, wins, onsets, "standard")
        raw, null, perfect = raw + r, null + nl, perfect + pf
        files += 1
    return {"files": files, "standard": nab_normalised(raw, null, perfect)}


def sim(base: DetectorConfig, days: int = 16, seed: int = 7) -> dict[str, Any]:
    from bench import detectors_sim

    r = detectors_sim.run(days, config=base, seed=seed)
    r.pop("per_asset", None)
    return r


def sim_new(base: DetectorConfig) -> dict[str, Any]:
    """The same fleet and faults with another scenario seed (held out: other loads, stops,
    noise; the class fault rules were written looking at seed 7)."""
    return sim(base, seed=8)


Group = Callable[[DetectorConfig], dict[str, Any]]
GROUPS: dict[str, Group] = {"cases": cases, "cases_new": cases_new, "cases_fresh": cases_fresh,
          "cases_day": cases_day, "cases_smooth5": partial(cases, smooth=5),
          "cases_smooth20": partial(cases, smooth=20),
          "cases_smooth5_new": partial(cases, seed=9000, smooth=5),
          "cases_smooth20_new": partial(cases, seed=9000, smooth=20),
          "cases_ramp30": partial(cases, ramp=30),
          "cases_ramp30_new": partial(cases, seed=9000, ramp=30),
          "cases_physics": partial(cases, seed=30000, physics=True),
          "cases_physics_new": partial(cases, seed=31000, physics=True),
          "cases_physics_fresh": partial(cases, seed=32000, physics=True),
          "cases_10min": partial(cases, every=10),
          "cases_10min_new": partial(cases, seed=9000, every=10),
          "cases_physics_10min": partial(cases, seed=30000, physics=True, every=10),
          "cases_physics_10min_fresh": partial(cases, seed=32000, physics=True, every=10),
          "cmapss": cmapss, "sim": sim, "sim_new": sim_new,
          "skab": skab, "nab": nab}  # fmt: skip
HELD_OUT = {"cases_new", "cases_fresh", "cases_smooth5_new", "cases_smooth20_new",
            "cases_ramp30_new", "cases_physics_fresh", "sim_new", "cases_10min_new",
            "cases_physics_10min_fresh"}  # fmt: skip
TUNED = set(GROUPS) - HELD_OUT


def table(results: dict[str, Any]) -> str:
    lines = ["| data set | group | figure | ours | target / published |", "|---|---|---|---|---|"]

    def row(ds: str, fig: str, ours: str, ref: str) -> None:
        grp = "tuned on" if ds.split(",")[0] in TUNED else "**held out**"
        lines.append(f"| {ds} | {grp} | {fig} | {ours} | {ref} |")

    if "skab" in results:
        s = results["skab"]
        pub = "; ".join(f"{n} {f:.2f}/{a:.1%}" for n, f, a, _ in SKAB_PUBLISHED[:3])
        row("skab", "F1 / FAR / MAR", f"{s['f1']:.3f} / {s['far']:.1%} / {s['mar']:.1%}",
            f">= 0.80 / <= 10 %; {pub}")  # fmt: skip
        row("skab", "faults detected, median delay",
            f"{s['detected']}/{s['faults']}, {s['median_delay_s'] or 0:.0f} s", "")  # fmt: skip
        row("skab", "false episodes (valve1; anomaly-free)",
            f"{s['false_episodes']}; {s['free_false_episodes']} in {s['free_hours']:.1f} h", "")  # fmt: skip
    if "nab" in results:
        n = results["nab"]
        pub = "; ".join(f"{a} {b}" for a, b in NAB_PUBLISHED[:3])
        row("nab", f"standard score ({n['files']} files)", f"{n['standard']:.1f}", f">= 65; {pub}")
    if "cmapss" in results:
        c = results["cmapss"]
        o, b = c["ours"], c["baseline"]
        row("cmapss", f"alarm >= 10 rows before last (RUL<30: {c['rul_below_30']})",
            f"{o['alarm10']}, median lead {o['median_lead']}",
            f"15-line baseline {b['alarm10']}, median lead {b['median_lead']}")  # fmt: skip
        row("cmapss", f"engines alarming in first half (of {c['engines']})",
            str(o["first_half"]), f"baseline {b['first_half']}")  # fmt: skip
    for key in GROUPS:
        if not key.startswith("cases") or key not in results:
            continue
        c = results[key]
        ds = f"{key}, warm-up {c['warmup']}" + (", growing" if key != "cases_day" else "")
        if c.get("smooth", 1) > 1:
            ds += f", {c['smooth']}-row moving average"
        if c.get("ramp", 1) > 1:
            ds += f", load ramps over {c['ramp']} min, stops coast down"
        if c.get("physics"):
            ds += ", other physics (affinity laws, lags of 20-120 min, AR noise, dropouts)"
        if c.get("every", 1) > 1:
            ds += f", exported as {c['every']}-minute means"
        row(ds, "degradations >= 24 h ahead / seen",
            f"{c['detected_24h']}/{c['degradations']} ({c['detected']} seen"
            + (f", {c['latched_at_onset']} by an alarm open since before its onset"
               if c.get("latched_at_onset") else "") + "), median lead "
            f"{c['median_lead_h'] or 0:.0f} h", "")  # fmt: skip
        if c.get("by_mode"):  # which faults are seen: a mode never seen hides in the total
            row(ds, "by fault mode: >= 24 h ahead / seen / of",
                ", ".join(f"{k} {v['ahead_24h']}/{v['seen']}/{v['degradations']}"
                          for k, v in c["by_mode"].items()), "")  # fmt: skip
        row(ds, "false episodes / 100 asset-days",
            f"{c['false_per_100_asset_days']:.2f} ({c['false_episodes']} in "
            f"{c['healthy_asset_days']:.0f})", "<= 1")  # fmt: skip
        d = c["drift"]
        if d:  # none at coarser sampling: the drift cases are one-minute rows
            row(ds, "slow drift: delay after ramp start (rows), false",
                ", ".join(str(x["delay_rows"]) for x in d) + f"; {sum(x['false'] for x in d)}", "")  # fmt: skip
    for key in ("sim", "sim_new"):
        if key not in results:
            continue
        s = results[key]
        row(key, "degradations >= 24 h ahead",
            f"{s['alarmed_24h_before']}/{s['degradations']}, median lead "
            f"{s['median_lead_h'] or 0:.0f} h", ">= 95 %")  # fmt: skip
        row(key, "false tickets / 100 healthy asset-days",
            f"{s['false_per_100_asset_days']:.2f}", "<= 1")  # fmt: skip
        row(key, "fault mode right", f"{s['fault_mode_right']}/{s['degradations']}", "")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(GROUPS))
    ap.add_argument("--set", action="append", default=[], help="dotted key=value override")
    ap.add_argument("--out", default=str(RESULTS / "detectors_generalize.json"))
    args = ap.parse_args()
    base = load_config()
    if args.set:
        vals = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
        base = base.with_values(vals)
    results: dict[str, Any] = {"overrides": args.set}
    for g in args.only.split(","):
        t0 = time.perf_counter()
        results[g] = GROUPS[g](base)
        print(g, f"{time.perf_counter() - t0:.0f} s", json.dumps(results[g], default=float))
    print(table(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
