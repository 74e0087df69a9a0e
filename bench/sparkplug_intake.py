"""Sparkplug B intake beside JSON intake and raw COPY, the same samples, in the same run.

Run: ``python -m bench.sparkplug_intake [--samples 500000] [--per-message 250]``.
Each round, on a fresh database per path (cluster from FOREWARN_TEST_DSN) and a private
Mosquitto:

1. raw: the rows by binary COPY into the telemetry hypertable (the ceiling);
2. decode only, in this process: the JSON validator on the JSON messages, and the Sparkplug
   intake (protobuf decode, aliases, seq, conversion to the contract and the same validator)
   on the Sparkplug messages;
3. end to end, one ingest worker process each: JSON on ``forewarn/v1/...`` and Sparkplug
   DDATA (aliases, one timestamp per metric, births first) on ``spBv1.0/...``; a publisher
   process sends every message at QoS 1; the clock stops when the committed row counter
   reaches the total, and the table is then counted.

Both formats carry identical readings (``--metrics`` per timestamp, ``--per-message``
timestamps per message); a reading (one metric at one time) is one row, so rows/s compare
directly; messages/s are given too.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from esio_spb_builder.core import sparkplug_b_pb2 as pb
from rich.console import Console
from rich.table import Table

from bench.ingest_throughput import _publish, bench_raw, fresh_db, rows_of
from forewarn import db as fdb
from forewarn.contract import topics, utc
from forewarn.settings import SparkplugSettings
from forewarn.testing.servers import Broker
from ingest.sparkplug import SparkplugIntake
from ingest.validate import Accepted, Policy

ROOT = Path(__file__).resolve().parents[1]
ADMIN = os.environ.get("FOREWARN_TEST_DSN", "postgresql://postgres@127.0.0.1:54329/postgres")
console = Console(width=None if sys.stdout.isatty() else 130)
GROUP, EDGES = "bench", 4
Msgs = list[tuple[str, bytes]]


def workload(samples: int, per_message: int, metrics: int, assets: int) -> tuple[Msgs, Msgs]:
    """The same samples as JSON messages and as Sparkplug messages (births first)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    names = [f"m{j}" for j in range(metrics)]
    js: Msgs = []
    spb: Msgs = []
    seq = {e: 0 for e in range(EDGES)}

    def sp(edge: int, kind: str, device: str, p: Any) -> None:
        if kind != "NBIRTH":
            seq[edge] = (seq[edge] + 1) % 256
        p.seq = seq[edge]
        spb.append((f"spBv1.0/{GROUP}/{kind}/e{edge}/{device}".rstrip("/"), p.SerializeToString()))

    for e in range(EDGES):
        p = pb.Payload(timestamp=0)
        m = p.metrics.add(name="bdSeq", datatype=8, long_value=0)
        sp(e, "NBIRTH", "", p)
    for a in range(assets):
        p = pb.Payload()
        for k, n in enumerate(names):
            p.metrics.add(name=n, alias=k + 1, datatype=10, is_null=True)
        sp(a % EDGES, "DBIRTH", f"bench-{a:04d}", p)
    for s in range(samples // (per_message * metrics)):
        a = s % assets
        asset = f"bench-{a:04d}"
        base = start + timedelta(seconds=(s // assets) * per_message)
        rows = [
            (base + timedelta(seconds=i), [20.0 + ((s + i + j) % 97) / 7 for j in range(metrics)])
            for i in range(per_message)
        ]
        body = {
            "asset": asset,
            "seq": s,
            "samples": [
                {"ts": utc(t), "values": dict(zip(names, v, strict=True))} for t, v in rows
            ],
        }
        js.append((topics.telemetry(GROUP, asset), json.dumps(body).encode()))
        p = pb.Payload(timestamp=int(base.timestamp() * 1000))
        for t, values in rows:
            ms = int(t.timestamp() * 1000)
            for k, v in enumerate(values):
                m = p.metrics.add(alias=k + 1, timestamp=ms)
                m.double_value = v
        sp(a % EDGES, "DDATA", asset, p)
    return js, spb


def intake() -> SparkplugIntake:
    policy = Policy(max_future=timedelta(minutes=5), max_past=timedelta(days=2))
    return SparkplugIntake(SparkplugSettings(enabled=True, status=False, rebirth=False), policy)


def decode_rate(msgs: Msgs, rows: int, sparkplug: bool) -> float:
    t0 = time.perf_counter()
    if sparkplug:
        spi = intake()
        items = [i for t, p in msgs for i in spi.handle(t, p)]
        assert all(isinstance(i, Accepted) for i in items), items[:1]
    else:
        rows_of(msgs)
    return rows / (time.perf_counter() - t0)


def e2e(msgs: Msgs, rows: int, broker: Broker, log: Path, sparkplug: bool) -> float:
    """Samples/s from the first publish to the last committed row, one worker process."""
    tag = "spb" if sparkplug else "json"
    name, url = fresh_db(f"e2e_{tag}")
    env = {
        **os.environ,
        "FOREWARN_CONFIG": os.devnull,
        "FOREWARN_LOG_LEVEL": os.environ.get("FOREWARN_LOG_LEVEL", "WARNING"),
        "FOREWARN_DATABASE__DSN": url,
        "FOREWARN_MQTT__URL": broker.url,
        "FOREWARN_MQTT__CLIENT_ID_PREFIX": f"bench-{tag}",
        "FOREWARN_INGEST__METRICS_INTERVAL_S": "0.1",
        "FOREWARN_SPARKPLUG__ENABLED": "true" if sparkplug else "false",
        "FOREWARN_SPARKPLUG__STATUS": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    ctx = mp.get_context("spawn")
    ready, go, took = ctx.Event(), ctx.Event(), ctx.Value("d", 0.0)
    pub = ctx.Process(target=_publish, args=(broker.url, msgs, ready, go, took))
    pub.start()
    try:
        with fdb.connect(url, autocommit=True) as conn:

            def committed() -> tuple[int, int]:
                row = conn.execute(
                    "select coalesce(sum(rows_written), 0), count(*) from ingest_metrics"
                ).fetchone()
                return (int(row[0]), int(row[1])) if row else (0, 0)

            deadline = time.monotonic() + 60
            while committed()[1] < 1:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"ingest did not start; see {log}")
                time.sleep(0.1)
            assert ready.wait(30)
            t0 = time.perf_counter()
            go.set()
            deadline = time.monotonic() + 600
            while committed()[0] < rows:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise TimeoutError(f"only {committed()[0]} of {rows} rows; see {log}")
                time.sleep(0.05)
            elapsed = time.perf_counter() - t0
            stored = conn.execute("select count(*) from telemetry").fetchone()
            assert stored == (rows,), f"{stored} rows stored, {rows} published"
            dead = conn.execute("select count(*) from dead_letters").fetchone()
            assert dead == (0,), f"{dead} dead letters; see {log}"
        pub.join(30)
        return rows / elapsed
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if pub.is_alive():
            pub.kill()
        fdb.drop_database(ADMIN, name)


def main() -> None:
    quick = bool(os.environ.get("FOREWARN_BENCH_QUICK"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=50_000 if quick else 500_000)
    ap.add_argument("--per-message", type=int, default=250)
    ap.add_argument("--metrics", type=int, default=1, help="metrics per timestamp")
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=1 if quick else 3)
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "sparkplug_intake.json"
    )
    a = ap.parse_args()

    js, spb = workload(a.samples, a.per_message, a.metrics, a.assets)
    items = rows_of(js)
    rows = sum(len(i.rows) for i in items)
    data_msgs = len(js)
    console.print(
        f"{data_msgs:,} data messages x {a.per_message} timestamps x {a.metrics} metrics = "
        f"{rows:,} samples (rows), {a.assets} assets; Sparkplug adds {len(spb) - data_msgs} births"
    )
    labels = [
        ("raw binary COPY into telemetry (ceiling)", "raw_copy"),
        ("decode only: JSON validator", "decode_json"),
        ("decode only: Sparkplug intake", "decode_sparkplug"),
        ("end to end: JSON intake, 1 worker", "e2e_json"),
        ("end to end: Sparkplug intake, 1 worker", "e2e_sparkplug"),
    ]
    runs: dict[str, list[float]] = {k: [] for _, k in labels}
    ratios: dict[str, list[float]] = {k: [] for _, k in labels}
    with tempfile.TemporaryDirectory(prefix="fw-bench-spb-") as tmp:
        broker = Broker(home=Path(tmp) / "mqtt").start()
        try:
            for r in range(a.repeat):
                got = {
                    "raw_copy": bench_raw(items, 50_000),
                    "decode_json": decode_rate(js, rows, sparkplug=False),
                    "decode_sparkplug": decode_rate(spb, rows, sparkplug=True),
                    "e2e_json": e2e(js, rows, broker, Path(tmp) / f"json-{r}.log", False),
                    "e2e_sparkplug": e2e(spb, rows, broker, Path(tmp) / f"spb-{r}.log", True),
                }
                for key, value in got.items():
                    runs[key].append(value)
                    ratios[key].append(value / got["raw_copy"])
                console.print(
                    f"round {r + 1}: " + ", ".join(f"{k} {v:,.0f}" for k, v in got.items())
                )
        finally:
            broker.kill()
    med = {k: statistics.median(v) for k, v in runs.items()}
    per_msg = rows / data_msgs
    table = Table(title=f"Sparkplug vs JSON intake ({rows:,} readings, {per_msg:.0f}/message)")
    for col in ("path", "readings/s (rows)", "messages/s", "vs raw COPY", "rounds (rows/s)"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for label, key in labels:
        table.add_row(
            label,
            f"{med[key]:,.0f}",
            "" if key == "raw_copy" else f"{med[key] / per_msg:,.0f}",
            f"{statistics.median(ratios[key]):.2f}",
            ", ".join(f"{v:,.0f}" for v in runs[key]),
        )
    console.print(table)
    results = {
        "samples": rows,
        "messages": data_msgs,
        "per_message": a.per_message,
        "metrics": a.metrics,
        "rounds": runs,
        "ratios_per_round": ratios,
        "median": med,
        "median_ratio": {k: statistics.median(v) for k, v in ratios.items()},
        "when": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
