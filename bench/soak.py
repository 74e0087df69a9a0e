"""Soak: the demo fleet through the whole pipeline for a bounded time, with faults injected.

Run: ``python -m bench.soak [--minutes 30]`` (not part of ``make bench`` or CI).

Everything runs as real processes on servers of its own: a throw-away TimescaleDB cluster
(so the database can be restarted), a private Mosquitto, and ``forewarn ingest|detectors|
ticketing run``. The simulator plays the demo fleet (36 assets, two sites, one sample a
minute) for eight simulated days, paced to end after ``--minutes``, with four slow
degradations (onsets after the detectors' two-day warm-up), a motor trip, a site power
cut and random sensor dropouts. During the first 60 % of the run the soak SIGKILLs and
restarts ingest, detectors and ticketing, restarts the broker and the database; the last
40 % is undisturbed so memory can be judged on processes that run on.

At the end it reports: samples published vs stored exactly once; each injected degradation
and whether it got a predictive ticket before its functional failure; false tickets per
100 healthy asset-days beside the detectors' measured rate; each process's RSS over time
(and its growth over the undisturbed tail). JSON goes to ``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import secrets
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from forewarn import db as fdb
from forewarn.testing import Broker, PgCluster
from tests.pipeline_support import Pipeline, service_env

ROOT = Path(__file__).resolve().parents[1]
console = Console()
DAYS = 8
PERIOD_S = 60
# The detectors' measured false-alarm rate on the simulated fleet (bench.detectors_sim,
# docs/detectors.md): 0.00 episodes per 100 healthy asset-days over 251 asset-days, i.e.
# below 1 / 2.51 = 0.4 per 100 asset-days at the resolution of that sample.
DETECTOR_FALSE_PER_100_ASSET_DAYS = 0.0
DETECTOR_SAMPLE_ASSET_DAYS = 251

SCENARIO = f"""
name: soak
seed: 42
duration: {DAYS}d
sample_period_s: {PERIOD_S}
batch_samples: 10
sites:
  - {{id: north, name: North plant, lat: 53.55, lon: 9.99, utc_offset_h: 1, ambient_mean_c: 16, ambient_swing_c: 5}}
  - {{id: south, name: South plant, lat: 48.14, lon: 11.58, utc_offset_h: 1, ambient_mean_c: 21, ambient_swing_c: 7}}
fleet:
  - {{site: north, asset_class: centrifugal_pump, count: 8, profile: acme_centrifugal_pump}}
  - {{site: north, asset_class: electric_motor, count: 4, profile: voltra_electric_motor, duty: shift}}
  - {{site: north, asset_class: air_compressor, count: 3, profile: boreas_air_compressor}}
  - {{site: north, asset_class: chiller, count: 2, profile: polar_chiller}}
  - {{site: south, asset_class: centrifugal_pump, count: 8, profile: acme_centrifugal_pump}}
  - {{site: south, asset_class: electric_motor, count: 5, profile: voltra_electric_motor, duty: shift}}
  - {{site: south, asset_class: air_compressor, count: 3, profile: boreas_air_compressor}}
  - {{site: south, asset_class: chiller, count: 3, profile: polar_chiller}}
degradations:
  - {{asset: north-P003, mode: bearing_wear, onset: 2d12h, failure_after: 3d}}
  - {{asset: south-C002, mode: clogged_filter, onset: 3d, failure_after: 3d}}
  - {{asset: south-P005, mode: cavitation, onset: 3d12h, failure_after: 3d}}
  - {{asset: north-M002, mode: winding_insulation, onset: 3d, failure_after: 4d}}
faults:
  - {{fault: trip, asset: north-M004, at: 2d6h, duration: 20m}}
  - {{fault: power_loss, site: south, at: 4d3h, duration: 15m}}
sensor_faults:
  dropouts_per_asset_day: 0.2
  stuck_per_asset_day: 0.05
  mean_duration: 15m
"""


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    """Samples the RSS of every named process every ``period`` s: (elapsed, name, pid, KiB)."""

    def __init__(self, pids: Any, period: float) -> None:
        super().__init__(daemon=True)
        self.pids, self.period = pids, period
        self.samples: list[tuple[float, str, int, int]] = []
        self.stop_event = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop_event.wait(self.period):
            now = round(time.monotonic() - self.t0, 1)
            for name, pid in self.pids().items():
                kib = rss_kib(pid)
                if kib is not None:
                    self.samples.append((now, name, pid, kib))


def memory_report(samples: list[tuple[float, str, int, int]], tail_from: float) -> dict[str, Any]:
    """Per process: RSS at start/end, max, growth over the undisturbed tail, and over its
    second half (a process restarted just before the tail grows while it warms up: imports,
    connection pools, caches; the second half says whether it keeps growing)."""
    out: dict[str, Any] = {}
    for name in sorted({s[1] for s in samples}):
        mine = [s for s in samples if s[1] == name]
        last_pid = mine[-1][2]
        tail = [s for s in mine if s[2] == last_pid and s[0] >= tail_from]
        growth = settled = None
        if len(tail) >= 2:
            growth = (tail[-1][3] - tail[0][3]) / tail[0][3] * 100
            half = tail[len(tail) // 2]
            settled = (tail[-1][3] - half[3]) / half[3] * 100
        out[name] = {
            "pids": sorted({s[2] for s in mine}),
            "first_mib": mine[0][3] / 1024,
            "last_mib": mine[-1][3] / 1024,
            "max_mib": max(s[3] for s in mine) / 1024,
            "tail_growth_pct": growth,
            "settled_growth_pct": settled,
            "series": [(s[0], s[2], s[3]) for s in mine],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="wall time of the simulation")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    a = ap.parse_args()
    wall_s = a.minutes * 60
    speed = DAYS * 86400 / wall_s
    steps = math.ceil(DAYS * 86400 / PERIOD_S)

    home = Path(tempfile.mkdtemp(prefix="forewarn-soak-"))
    os.chmod(home, 0o755)
    cluster = PgCluster(home=home / "pg").start()
    broker = Broker(home=home / "mqtt").start()
    dsn = fdb.create_database(cluster.dsn, "soak")
    fdb.migrate(dsn)
    env = service_env(dsn, broker.url, f"soak{secrets.token_hex(2)}")
    p = Pipeline(env=env, logs=home)
    scenario = home / "soak.yaml"
    scenario.write_text(SCENARIO)
    truth = home / "truth.csv"
    begin = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=DAYS)
    start = begin.isoformat().replace("+00:00", "Z")
    faults: list[tuple[float, str]] = []

    def pids() -> dict[str, int]:
        out = {n: pr.pid for n, pr in p.procs.items() if pr.poll() is None}
        if broker.proc and broker.proc.poll() is None:
            out["mosquitto"] = broker.proc.pid
        with contextlib.suppress(OSError, ValueError):
            out["postgres"] = int((home / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        return out

    sampler = RssSampler(pids, period=max(2.0, wall_s / 150))
    console.print(
        f"soak: {DAYS} simulated days of 36 assets at {speed:.0f}x, about {a.minutes:g} min; "
        f"logs in {home}"
    )
    try:
        p.start_services()
        sampler.start()
        sim = p.background(
            "sim", "sim", "run", str(scenario), "--mqtt", "--speed", f"{speed:.3f}",
            "--start", start, "--truth-out", str(truth),
        )  # fmt: skip
        t0 = time.monotonic()

        def at(frac: float, what: str) -> None:
            time.sleep(max(0.0, t0 + frac * wall_s - time.monotonic()))
            faults.append((round(time.monotonic() - t0, 1), what))
            console.print(f"[yellow]{faults[-1][0]:7.1f} s[/yellow] {what}")

        def bounce(name: str, needle: str) -> None:
            p.kill(name)
            time.sleep(2)
            mark = p.mark(name)
            p.start(name)
            p.wait_log(name, needle, timeout=120, since=mark)

        at(0.10, "SIGKILL ingest, restart")
        bounce("ingest", "subscribed")
        at(0.20, "broker restart (3 s down)")
        broker.restart(downtime=3)
        at(0.30, "SIGKILL detectors, restart")
        bounce("detectors", "subscribed")
        at(0.40, "database restart (5 s down)")
        cluster.stop("fast")
        time.sleep(5)
        cluster.start()
        at(0.50, "SIGKILL ticketing, restart")
        bounce("ticketing", "Application startup complete")
        at(0.60, "SIGKILL ingest, restart")
        bounce("ingest", "subscribed")
        tail_from = time.monotonic() - sampler.t0
        sim_rc = sim.wait(wall_s * 2 + 600)
        sim_end = time.monotonic() - t0
        drained = _drain(dsn, truth, steps, timeout=300)
        time.sleep(10)  # late anomaly events reach ticketing
        sampler.stop_event.set()
        report = _report(dsn, truth, p, steps)
        report.update(
            minutes=a.minutes,
            speed=speed,
            sim_returncode=sim_rc,
            sim_wall_s=round(sim_end, 1),
            drained=drained,
            faults=faults,
            memory=memory_report(sampler.samples, tail_from),
            memory_tail_from_s=round(tail_from, 1),
            cores=os.cpu_count(),
            date=datetime.now(UTC).isoformat(timespec="seconds"),
            logs=str(home),
        )
        alive = {n: p.alive(n) for n in ("ingest", "detectors", "ticketing")}
        report["alive_at_end"] = alive
    finally:
        sampler.stop_event.set()
        p.stop()
        broker.kill()
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
    _print(report)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1, default=str))
    console.print(f"wrote {a.out}")


def expected_times(truth: Path, steps: int) -> dict[str, int]:
    """Sample times each asset publishes: every step, except while its site has no power
    (a ``power_loss`` in the ground truth: the devices are off and send nothing)."""
    rows = list(csv.DictReader(truth.open()))
    out = {r["asset"]: steps for r in rows}
    for r in rows:
        if r["mode"] == "power_loss":
            first = math.ceil(float(r["onset_s"]) / PERIOD_S)
            end = math.ceil(float(r["end_s"]) / PERIOD_S)
            out[r["asset"]] -= max(0, min(end, steps) - first)
    return out


def _stored_times(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(
            conn.execute("select asset, count(distinct time) from telemetry group by 1").fetchall()
        )


def _drain(dsn: str, truth: Path, steps: int, timeout: float) -> bool:
    """Wait until every asset has all its expected sample times stored (or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = _stored_times(dsn)
        want = expected_times(truth, steps)
        if len(stored) == 36 and all(stored.get(a, 0) >= n for a, n in want.items()):
            return True
        time.sleep(2)
    return False


def _report(dsn: str, truth: Path, p: Pipeline, steps: int) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        per_asset = conn.execute(
            "select asset, count(*), count(distinct (metric, time)), count(distinct time)"
            " from telemetry group by 1 order by 1"
        ).fetchall()
        tickets = conn.execute(
            "select asset, fault_mode, priority, state, created_at from tickets"
            " where source = 'predictive' order by created_at"
        ).fetchall()
        first_open: dict[str, datetime] = dict(
            conn.execute(
                "select asset, min(time) from anomalies where state = 'open' and not historical"
                " group by 1"
            ).fetchall()
        )
        dead = conn.execute("select count(*) from dead_letters").fetchone()
        metrics = conn.execute(
            "select coalesce(sum(messages), 0), coalesce(sum(samples), 0) from ingest_metrics"
        ).fetchone()
    sim_log = p.text("sim")
    published = None
    for line in sim_log.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if len(cells) == 7 and cells[0].isdigit():
            published = {"steps": int(cells[0]), "messages": int(cells[6])}
    rows = sum(r[1] for r in per_asset)
    distinct = sum(r[2] for r in per_asset)
    want = expected_times(truth, steps)
    short = {
        r[0]: (r[3], want.get(r[0], steps)) for r in per_asset if r[3] != want.get(r[0], steps)
    }
    power_cut = {a: steps - n for a, n in want.items() if n != steps}
    degradations = [r for r in csv.DictReader(truth.open()) if r["kind"] == "degradation"]
    faulty = {r["asset"] for r in degradations}
    ticketed = {t[0] for t in tickets}
    found = []
    for d in degradations:
        failure = datetime.fromisoformat(d["functional_failure"].replace("Z", "+00:00"))
        alarm = first_open.get(d["asset"])
        lead_h = None if alarm is None else (failure - alarm).total_seconds() / 3600
        found.append(
            {
                "asset": d["asset"],
                "mode": d["mode"],
                "ticket": d["asset"] in ticketed,
                "ticket_fault_modes": sorted({t[1] for t in tickets if t[0] == d["asset"]}),
                "tickets": sum(1 for t in tickets if t[0] == d["asset"]),
                "first_alarm_lead_h": None if lead_h is None else round(lead_h, 1),
            }
        )
    false = sorted(ticketed - faulty)
    healthy_days = (36 - len(faulty)) * DAYS
    return {
        "steps_per_asset": steps,
        "assets_stored": len(per_asset),
        "published": published,
        "rows_stored": rows,
        "distinct_rows": distinct,
        "duplicates": rows - distinct,
        "assets_not_as_expected": short,  # asset: (sample times stored, expected)
        "samples_expected": 36 * steps - sum(power_cut.values()),
        "sample_times_stored": sum(r[3] for r in per_asset),
        "not_published_during_power_cut": power_cut,
        "dead_letters": dead[0] if dead else None,
        "ingest_counters": {"messages": metrics[0], "samples": metrics[1]} if metrics else None,
        "degradations": found,
        "false_tickets": false,
        "false_per_100_asset_days": len(false) / healthy_days * 100,
        "healthy_asset_days": healthy_days,
        "detector_rate_per_100_asset_days": DETECTOR_FALSE_PER_100_ASSET_DAYS,
        "detector_rate_sample_asset_days": DETECTOR_SAMPLE_ASSET_DAYS,
    }


def _print(r: dict[str, Any]) -> None:
    t = Table(title=f"soak: {r['minutes']:g} min, {r['speed']:.0f}x, {r['cores']} cores")
    t.add_column("figure")
    t.add_column("value", justify="right")
    pub = r["published"] or {}
    t.add_row("simulator steps x assets", f"{pub.get('steps', '?')} x 36")
    cut = sum(r["not_published_during_power_cut"].values())
    t.add_row(
        "samples published (steps x assets - power cut)", f"{r['samples_expected']:,} (-{cut})"
    )
    t.add_row("sample times stored", f"{r['sample_times_stored']:,}")
    t.add_row("MQTT messages published", str(pub.get("messages", "?")))
    t.add_row("assets with every sample time stored", f"{36 - len(r['assets_not_as_expected'])}/36")
    t.add_row(
        "rows stored / distinct (asset, metric, time)",
        f"{r['rows_stored']:,} / {r['distinct_rows']:,}",
    )
    t.add_row("duplicated rows", str(r["duplicates"]))
    t.add_row("dead letters", str(r["dead_letters"]))
    for d in r["degradations"]:
        t.add_row(
            f"degradation {d['asset']} ({d['mode']})",
            f"tickets {d['tickets']}, first alarm {d['first_alarm_lead_h']} h before failure",
        )
    t.add_row(
        "false tickets (healthy assets)",
        f"{len(r['false_tickets'])} = {r['false_per_100_asset_days']:.2f}/100 asset-days "
        f"(detector measured {r['detector_rate_per_100_asset_days']:.2f} over "
        f"{r['detector_rate_sample_asset_days']})",
    )
    t.add_row("services alive at the end", ", ".join(k for k, v in r["alive_at_end"].items() if v))
    console.print(t)
    m = Table(title=f"RSS (MiB); growth over the undisturbed tail from {r['memory_tail_from_s']} s")
    for col in ("process", "restarts", "first", "last", "max", "tail growth", "2nd half"):
        m.add_column(col, justify="left" if col == "process" else "right")
    for name, v in r["memory"].items():
        g, h = v["tail_growth_pct"], v.get("settled_growth_pct")
        m.add_row(
            name,
            str(len(v["pids"]) - 1),
            f"{v['first_mib']:.0f}",
            f"{v['last_mib']:.0f}",
            f"{v['max_mib']:.0f}",
            "-" if g is None else f"{g:+.1f}%",
            "-" if h is None else f"{h:+.1f}%",
        )
    console.print(m)
    console.print("faults:", ", ".join(f"{s} s {w}" for s, w in r["faults"]))


if __name__ == "__main__":
    main()
