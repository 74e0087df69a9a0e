"""Fleet scale: the largest simulated fleet at 1 Hz the whole pipeline sustains on this machine.

The simulator, the gateways (one per site, polling Modbus TCP), Mosquitto, ingest, the
detectors, ticketing and TimescaleDB (fsync on) all run here as real processes. A fleet size
is *sustained* when, over the measurement window, every device is stored at 1 Hz (>= 97 % of
the expected sample times), and neither the telemetry lag (wall clock minus the newest stored
sample), the detectors' lag (checkpoint time minus the last scored sample), the broker's
queue nor the gateways' buffers grow. Short probes climb a ladder of sizes to find the edge;
the largest sustained size is then held for ``--sustain-s`` (ten minutes by default).

Baselines measured in the same run, so the pipeline's per-core costs can be read against
them: raw binary COPY into the hypertable, a bare paho subscriber, bare river
HalfSpaceTrees. ``--edge mqtt`` replaces simulator+gateways by MQTT-native devices to find
the server side's own ceiling; ``--edge sparkplug`` by Sparkplug B edge nodes (one per site,
decoded by ingest's Sparkplug intake); ``--edge opcua`` serves the fleet as one OPC UA
server that the gateways (one per site) read by subscription.

    python -m bench.fleet_scale [--edge modbus|mqtt|sparkplug|opcua] [--sizes 100,200,...]
        [--sustain-s 600]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from bench._fleet import Trial
from forewarn import db as fdb
from forewarn import mqtt as fmqtt
from forewarn.demo_edges import EDGES
from forewarn.settings import MqttSettings
from forewarn.testing import Broker, PgCluster

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = bool(os.environ.get("FOREWARN_BENCH_QUICK"))
console = Console(width=None if sys.stdout.isatty() else 150)


def raw_copy(dsn: str, rows: int = 200_000) -> float:
    """Rows/s of plain binary COPY into the hypertable (batches of 5,000, one per commit)."""
    base = datetime.now(UTC) - timedelta(hours=1)
    data = [
        (base + timedelta(seconds=i // 8), f"raw-{i % 500}", f"m{i % 8}", float(i))
        for i in range(rows)
    ]
    with fdb.connect(dsn) as conn:
        t0 = time.perf_counter()
        for i in range(0, rows, 5000):
            with (
                conn.transaction(),
                conn.cursor().copy(
                    "COPY telemetry (time, asset, metric, value) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["timestamptz", "text", "text", "float8"])
                for row in data[i : i + 5000]:
                    copy.write_row(row)
        took = time.perf_counter() - t0
        conn.execute("delete from telemetry where asset like 'raw-%%'")
        conn.commit()
    return rows / took


def _publish(url: str, n: int, payload: bytes) -> None:
    s = MqttSettings(url=url)
    client = fmqtt.paho_client(s, fmqtt.client_id(s, "raw-pub"), max_inflight=1000)
    fmqtt.connect_paho(client, s)
    infos = [client.publish(f"raw/{i % 500}", payload, qos=1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def bare_subscriber(home: Path, n: int = 30_000) -> float:
    """Messages/s a bare paho subscriber (QoS 1) receives from a publisher process."""
    broker = Broker(home=home / "raw-mqtt").start()
    try:
        s = MqttSettings(url=broker.url)
        got = {"n": 0, "t0": 0.0, "t1": 0.0}

        def on_message(c: Any, ud: Any, msg: Any) -> None:
            got["n"] += 1
            if got["n"] == 1:
                got["t0"] = time.perf_counter()
            if got["n"] == n:
                got["t1"] = time.perf_counter()

        sub = fmqtt.paho_client(s, "raw-sub")
        sub.on_message = on_message
        fmqtt.connect_paho(sub, s)
        sub.subscribe("raw/#", qos=1)
        time.sleep(0.5)
        payload = json.dumps({"v": 1, "samples": [{"ts": "x", "values": {"a": 1.0}}] * 1}).encode()
        pub = mp.get_context("spawn").Process(target=_publish, args=(broker.url, n, payload))
        pub.start()
        deadline = time.monotonic() + 120
        while got["t1"] == 0.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        pub.join(30)
        sub.disconnect()
        sub.loop_stop()
        return (n - 1) / (got["t1"] - got["t0"]) if got["t1"] else float("nan")
    finally:
        broker.kill()


def bare_hst(n: int = 20_000) -> float:
    from bench.detectors_throughput import bare_hst as run
    from bench.detectors_throughput import unit, vectors

    return run(unit(vectors(n)))


def ladder(sizes: list[int], probe: Any) -> tuple[int | None, list[dict[str, Any]]]:
    """Climb until a size fails, then try halfway between the last pass and the first fail."""
    results: list[dict[str, Any]] = []
    best, worst = None, None
    for n in sizes:
        r = probe(n)
        results.append(r)
        if r["sustained"]:
            best = n
        else:
            worst = n
            break
    if best is not None and worst is not None and worst - best > best // 4:
        mid = (best + worst) // 2
        r = probe(mid)
        results.append(r)
        if r["sustained"]:
            best = mid
    return best, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edge", choices=EDGES, default="modbus")
    ap.add_argument("--sizes", default=None, help="probe ladder, comma-separated fleet sizes")
    ap.add_argument("--probe-s", type=int, default=60 if QUICK else 150)
    ap.add_argument("--sustain-s", type=int, default=60 if QUICK else 600)
    ap.add_argument("--fleet", type=int, default=None, help="skip the probes: hold this size")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the trial's servers and services are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    default = (
        "40,80"
        if QUICK
        else (
            "300,500,700,900,1200,1600"
            if a.edge in ("modbus", "opcua")
            else "500,1000,2000,3000,4000,6000"
        )
    )
    sizes = [int(x) for x in (a.sizes or default).split(",")]
    out = a.out or RESULTS / (
        "fleet_scale.json" if a.edge == "modbus" else f"fleet_scale_{a.edge}.json"
    )

    home = Path(tempfile.mkdtemp(prefix="forewarn-fleet-"))
    os.chmod(home, 0o755)
    cluster = PgCluster(home=home / "pg").start()
    try:
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute("alter system set fsync = on")  # as in production, unlike tests
            conn.execute("select pg_reload_conf()")
        postmaster = int((home / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        console.print(
            f"[bold]fleet scale[/] ({a.edge} edge, {os.cpu_count()} cores); logs in {home}"
        )
        base_dsn = fdb.create_database(cluster.dsn, "fleet_baseline")
        fdb.migrate(base_dsn)
        baselines = {
            "raw_copy_rows_per_s": raw_copy(base_dsn),
            "bare_subscriber_msgs_per_s": bare_subscriber(home),
            "bare_hst_samples_per_s": bare_hst(),
        }
        console.print("baselines:", {k: round(v) for k, v in baselines.items()})

        report: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cores": os.cpu_count(),
            "edge": a.edge,
            "baselines": baselines,
            "probes": [],
            "sustained": None,
            "fleet_sustained": None,
            "logs": str(home),
        }

        def save() -> None:  # after every trial: a crash later keeps what was measured
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=1, default=str) + "\n")

        def trial(n: int, seconds: int) -> dict[str, Any]:
            console.rule(f"{n} devices, {seconds} s")
            try:
                r = Trial(n, seconds, a.edge, cluster.dsn, postmaster, home).run()
            except Exception as exc:  # the harness failed, not the pipeline: say so
                r = {"fleet": n, "seconds": seconds, "sustained": False, "why": repr(exc)[:400]}
            _show([r])
            return r

        def probe(n: int) -> dict[str, Any]:
            r = trial(n, a.probe_s)
            report["probes"].append(r)
            save()
            return r

        best = a.fleet or ladder(sizes, probe)[0]
        held = None
        while best:
            held = report["sustained"] = trial(best, a.sustain_s)
            save()
            if held["sustained"]:
                report["fleet_sustained"] = best
                break
            best = int(best * 0.8) if best > sizes[0] else None
    finally:
        cluster.stop("immediate")
    probes = report["probes"]
    _show(probes + ([held] if held else []), title="all trials")
    _ratios(report)
    save()
    console.print(f"wrote {out}")


def _show(rows: list[dict[str, Any]], title: str = "") -> None:
    t = Table(title=title or None)
    for col in (
        "devices",
        "s",
        "samples/s",
        "rows/s",
        "at 1 Hz",
        "lag s start→end (max)",
        "detector lag s",
        "CPU cores",
        "tickets (alarm→ticket p50)",
        "sustained",
    ):
        t.add_column(col, justify="right")
    for r in rows:
        if "telemetry_lag" not in r:
            t.add_row(str(r["fleet"]), str(r["seconds"]), *["-"] * 7, f"[red]no: {r.get('why')}[/]")
            continue
        tl, dl = r["telemetry_lag"], r["detector_lag"]
        p50 = r["alarm_to_ticket_s_p50"]
        t.add_row(
            str(r["devices"]),
            str(r["seconds"]),
            f"{r['samples_per_s']:,.0f}",
            f"{r['rows_per_s']:,.0f}",
            f"{r['at_1hz_ratio']:.3f}",
            f"{tl['start']}→{tl['end']} ({tl['max']})",
            f"{dl['start']}→{dl['end']}",
            f"{r['cpu_total']:.2f}",
            f"{r['predictive_tickets']} ({'-' if p50 is None else f'{p50:.1f} s'})",
            "[green]yes[/]"
            if r["sustained"]
            else "[red]no[/]: "
            + ", ".join(k.split(" (")[0] for k, v in r["checks"].items() if not v),
        )
    console.print(t)


def _ratios(report: dict[str, Any]) -> None:
    """CPU per sample of each process beside the same work done bare, in the same run."""
    held, base = report["sustained"], report["baselines"]
    if not held or "cpu_cores" not in held:
        return
    per_s, rows_per_sample = held["samples_per_s"], held["rows_per_s"] / held["samples_per_s"]
    bare = {  # µs per sample of the same work done bare
        "ingest": 1e6 / base["raw_copy_rows_per_s"] * rows_per_sample,
        "detectors": 1e6 / base["bare_hst_samples_per_s"],
    }
    t = Table(title=f"sustained: {held['devices']} devices at 1 Hz for {held['seconds']} s")
    for col in ("process", "CPU (cores)", "µs CPU per sample", "bare, same run", "ratio"):
        t.add_column(col, justify="right")
    costs: dict[str, dict[str, float | None]] = {}
    for name, cores in sorted(held["cpu_cores"].items(), key=lambda kv: -kv[1]):
        us = cores / per_s * 1e6
        b = bare.get(name)
        costs[name] = {"cores": cores, "us_per_sample": us, "bare_us": b}
        t.add_row(
            name,
            f"{cores:.2f}",
            f"{us:,.0f}",
            "" if b is None else f"{b:,.0f}",
            "" if b is None else f"{b / us:.2f}",
        )
    console.print(t)
    console.print(
        f"bare: raw binary COPY of a sample's {rows_per_sample:.1f} rows; river HalfSpaceTrees "
        f"score+learn of one sample. Messages: {held['messages_per_s']:,.0f}/s through the "
        f"broker, a bare paho subscriber took {base['bare_subscriber_msgs_per_s']:,.0f}/s."
    )
    report["costs"] = costs


if __name__ == "__main__":
    main()
