"""The shipped detector configuration on a simulated fleet with ground truth (device_sim).

A 26-asset fleet (pumps, motors, compressors, chillers) sampled once a minute for 16
simulated days, with 14 slow degradations (every mode each class can suffer, onset day 7-9,
functional failure 4-5 days later), random operator stops, a trip, sensor dropouts and
stuck sensors. Reports, per the issue's targets: share of degradations alarmed at least 24 h
before functional failure, lead times, and false alarm episodes per 100 asset-days on
healthy running (healthy assets, and degraded ones before onset).

    python -m bench.detectors_sim [--days 16] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from detectors import AssetDetector, load_config
from detectors.configuration import DetectorConfig
from device_sim import Fleet, parse_scenario

RESULTS = Path(__file__).resolve().parent / "results"
DAY = 86400.0

SCENARIO = """
name: detectors_bench
seed: {seed}
start: 2026-02-02T00:00:00Z
duration: {days}d
sample_period_s: 60
speed: 60
batch_samples: 10
stops_per_asset_day: 0.3
sites:
  - {{id: plant, name: Bench plant, lat: 50.0, lon: 8.0, utc_offset_h: 1, ambient_mean_c: 18,
     ambient_swing_c: 6}}
fleet:
  - {{site: plant, asset_class: centrifugal_pump, count: 10}}
  - {{site: plant, asset_class: electric_motor, count: 3}}
  - {{site: plant, asset_class: electric_motor, count: 3, duty: shift, prefix: plant-MS}}
  - {{site: plant, asset_class: air_compressor, count: 5}}
  - {{site: plant, asset_class: chiller, count: 5}}
degradations:
  - {{asset: plant-P001, mode: bearing_wear, onset: 7d, failure_after: 5d}}
  - {{asset: plant-P002, mode: seal_leak, onset: 8d, failure_after: 4d}}
  - {{asset: plant-P003, mode: clogged_filter, onset: 7d12h, failure_after: 4d}}
  - {{asset: plant-P004, mode: winding_insulation, onset: 9d, failure_after: 5d}}
  - {{asset: plant-P005, mode: cavitation, onset: 8d, failure_after: 4d}}
  - {{asset: plant-M001, mode: bearing_wear, onset: 8d, failure_after: 5d}}
  - {{asset: plant-MS001, mode: winding_insulation, onset: 7d, failure_after: 5d}}
  - {{asset: plant-C001, mode: bearing_wear, onset: 9d, failure_after: 4d}}
  - {{asset: plant-C002, mode: seal_leak, onset: 7d, failure_after: 5d}}
  - {{asset: plant-C003, mode: clogged_filter, onset: 8d, failure_after: 4d}}
  - {{asset: plant-C004, mode: winding_insulation, onset: 8d12h, failure_after: 4d}}
  - {{asset: plant-CH001, mode: seal_leak, onset: 7d, failure_after: 5d}}
  - {{asset: plant-CH002, mode: clogged_filter, onset: 8d, failure_after: 4d}}
  - {{asset: plant-CH003, mode: bearing_wear, onset: 9d, failure_after: 4d}}
faults:
  - {{fault: trip, asset: plant-P008, at: 10d6h, duration: 30m}}
sensor_faults: {{dropouts_per_asset_day: 0.2, stuck_per_asset_day: 0.05, mean_duration: 15m}}
"""


def run(days: int, config: DetectorConfig | None = None, seed: int = 7) -> dict[str, object]:
    """The fleet's figures; ``seed`` 7 is the one tuned on (loads, stops, noise differ by seed)."""
    fleet = Fleet(parse_scenario(SCENARIO.format(days=days, seed=seed), "<bench>"))
    config = config or load_config()
    truth = {e.asset: e for e in fleet.truth() if e.kind == "degradation"}
    dets: dict[str, AssetDetector] = {}
    names: dict[str, list[str]] = {}
    for cls, g in fleet.groups.items():
        names[cls] = list(g.metrics)
        for a in g.assets:
            dets[a.id] = AssetDetector(a.id, config.for_class(cls), site=a.site, asset_class=cls)
    opens: dict[str, list[float]] = {a: [] for a in dets}
    modes: dict[str, list[str | None]] = {a: [] for a in dets}
    steps = int(days * DAY / fleet.scenario.sample_period_s)
    t0 = time.perf_counter()
    updates = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("simulating + detecting", total=steps)
        for k in range(steps):
            frame = fleet.step()
            t = frame.t
            for cls, g in fleet.groups.items():
                vals = frame.values[cls]
                online = frame.online[cls]
                cols = names[cls]
                for i, a in enumerate(g.assets):
                    if not online[i]:
                        continue  # power cut: no data at all
                    row = vals[i]
                    x = {c: float(v) for c, v in zip(cols, row, strict=True) if v == v}
                    step = dets[a.id].update(t, x)
                    updates += 1
                    ev = step.event
                    if ev is not None and ev.state == "open" and t not in opens[a.id][-1:]:
                        opens[a.id].append(t)
                        modes[a.id].append(ev.fault_mode)
            if k % 500 == 0:
                progress.update(task, completed=k)
    elapsed = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"detectors_sim_alarms{'' if seed == 7 else f'_{seed}'}.json"
    found = json.loads(json.dumps({"opens": opens, "modes": modes, "updates": updates}))
    kept = json.loads(path.read_text()) if path.exists() else {}
    if {k: kept.get(k) for k in found} != found:  # a run that only took longer is no change
        path.write_text(json.dumps({**found, "elapsed": elapsed}))
    return evaluate(fleet, dets, truth, opens, modes, days, updates, elapsed)


def evaluate(fleet, dets, truth, opens, modes, days, updates, elapsed) -> dict[str, object]:
    """Lead times and false alarms from the alarm openings of a run."""

    warm = {a: d.cfg.alarm.warmup * fleet.scenario.sample_period_s for a, d in dets.items()}
    leads, hits, mode_ok, false_eps, healthy_days = [], 0, 0, 0, 0.0
    per_asset = {}
    for a in dets:
        tr = truth.get(a)
        healthy_end = tr.onset if tr else days * DAY
        fa = [t for t in opens[a] if warm[a] <= t < healthy_end]
        false_eps += len(fa)
        healthy_days += max(0.0, healthy_end - warm[a]) / DAY
        row: dict[str, object] = {"false_alarms": len(fa)}
        if tr is not None:
            first = next(
                ((t, m) for t, m in zip(opens[a], modes[a], strict=True)
                 if tr.onset <= t <= tr.failure),
                None,
            )  # fmt: skip
            assert tr.failure is not None
            lead_h = None if first is None else (tr.failure - first[0]) / 3600
            if lead_h is not None:
                leads.append(lead_h)
                hits += lead_h >= 24
            later = [m for t, m in zip(opens[a], modes[a], strict=True)
                     if tr.onset <= t <= tr.failure and m]  # fmt: skip
            named = later[-1] if later else None
            mode_ok += named == tr.mode
            row.update(mode=tr.mode, lead_h=lead_h, suspected=named)
        per_asset[a] = row
    n_deg = len(truth)
    return {
        "days": days,
        "assets": len(dets),
        "degradations": n_deg,
        "alarmed_24h_before": hits,
        "share_24h_before": hits / n_deg if n_deg else None,
        "alarmed_at_all": len(leads),
        "median_lead_h": statistics.median(leads) if leads else None,
        "fault_mode_right": mode_ok,
        "false_episodes": false_eps,
        "healthy_asset_days": healthy_days,
        "false_per_100_asset_days": 100 * false_eps / healthy_days if healthy_days else None,
        "updates": updates,
        "updates_per_s": updates / elapsed,
        "per_asset": per_asset,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=16)
    ap.add_argument("--seed", type=int, default=7, help="scenario seed (7: the tuned one)")
    args = ap.parse_args()
    r = run(args.days, seed=args.seed)
    t = Table(title=f"simulated fleet: {r['assets']} assets, {r['days']} days at 1/min")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    t.add_row("degradations alarmed >= 24 h before failure",
              f"{r['alarmed_24h_before']} of {r['degradations']}", ">= 95%")  # fmt: skip
    t.add_row("degradations alarmed before failure", f"{r['alarmed_at_all']}", "")
    lead = r["median_lead_h"]
    t.add_row("median lead time", "-" if lead is None else f"{lead:.0f} h", "")
    t.add_row("suspected fault mode right", f"{r['fault_mode_right']} of {r['degradations']}", "")
    fpd = r["false_per_100_asset_days"]
    t.add_row("false alarm episodes / 100 asset-days (healthy)",
              "-" if fpd is None else f"{fpd:.2f}", "<= 1")  # fmt: skip
    t.add_row("healthy asset-days scored", f"{r['healthy_asset_days']:.0f}", "")
    t.add_row("detector updates/s (with simulation)", f"{r['updates_per_s']:,.0f}", "")
    Console().print(t)
    miss = Table(title="per degraded asset")
    for c in ("asset", "mode", "lead h", "suspected", "false alarms"):
        miss.add_column(c)
    per_asset: dict[str, dict[str, object]] = r["per_asset"]  # type: ignore[assignment]
    for a, row in per_asset.items():
        if "mode" in row or row["false_alarms"]:
            lead_h = row.get("lead_h")
            miss.add_row(a, str(row.get("mode", "-")), "-" if lead_h is None else f"{lead_h:.0f}",
                         str(row.get("suspected", "-")), str(row["false_alarms"]))  # fmt: skip
    Console().print(miss)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "detectors_sim.json"
    out.write_text(json.dumps(r, indent=2, default=float))
    print(f"written {out}")


if __name__ == "__main__":
    main()
