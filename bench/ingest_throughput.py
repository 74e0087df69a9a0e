"""Ingest throughput: raw binary COPY (the ceiling) vs MQTT publish -> committed rows.

Run: ``python -m bench.ingest_throughput [--samples 1000000] [--per-message 250]``.
Everything runs in this one process tree on this machine, on a fresh database per scenario
(on the cluster named by FOREWARN_TEST_DSN) and a private Mosquitto:

1. raw: the same rows, binary COPY straight into the telemetry hypertable (no MQTT, no
   JSON, no validation, no idempotence);
2. write paths of ingest.Writer on pre-validated rows: optimistic (COPY into the
   hypertable, staging only on a conflict), staging (COPY into a temp table, then
   INSERT ... ON CONFLICT DO NOTHING), and a staging replay where every row is a duplicate;
3. end to end with one and with two ingest worker processes: a publisher process sends
   every message (QoS 1) while the workers run; the clock stops when the workers' committed
   row counters reach the total. The row count is then checked in the table.

Samples carry one metric each here (a sample is one row), so samples/s and rows/s match.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from forewarn import db as fdb
from forewarn.contract import topics, utc
from forewarn.testing.servers import Broker
from ingest.validate import Accepted, Policy, check
from ingest.writer import ROW_TYPES, Writer

ROOT = Path(__file__).resolve().parents[1]
ADMIN = os.environ.get("FOREWARN_TEST_DSN", "postgresql://postgres@127.0.0.1:54329/postgres")
console = Console(width=None if sys.stdout.isatty() else 130)


def payloads(samples: int, per_message: int, metrics: int, assets: int) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs: ``samples`` samples spread over ``assets`` assets."""
    start = datetime.now(UTC) - timedelta(hours=20)
    out = []
    for seq in range(samples // per_message):
        asset = f"bench-{seq % assets:04d}"
        base = start + timedelta(seconds=(seq // assets) * per_message)
        body = {
            "asset": asset,
            "seq": seq,
            "samples": [
                {
                    "ts": utc(base + timedelta(seconds=i)),
                    "values": {f"m{j}": 20.0 + ((seq + i + j) % 97) / 7 for j in range(metrics)},
                }
                for i in range(per_message)
            ],
        }
        out.append((topics.telemetry("bench", asset), json.dumps(body).encode()))
    return out


def fresh_db(tag: str) -> tuple[str, str]:
    name = f"fw_bench_ingest_{tag}_{os.getpid()}_{secrets.token_hex(2)}"
    url = fdb.create_database(ADMIN, name)
    fdb.migrate(url)
    return name, url


def rows_of(msgs: list[tuple[str, bytes]]) -> list[Accepted]:
    policy = Policy(max_future=timedelta(minutes=5), max_past=timedelta(days=2))
    out = []
    for topic, body in msgs:
        item = check(topic, body, policy)
        assert isinstance(item, Accepted), item
        out.append(item)
    return out


def bench_raw(items: list[Accepted], batch_rows: int) -> float:
    """Rows/s of plain binary COPY into the hypertable, in batches like ingest's."""
    name, url = fresh_db("raw")
    try:
        rows = [r for a in items for r in a.rows]
        with fdb.connect(url) as conn:
            t0 = time.perf_counter()
            for i in range(0, len(rows), batch_rows):
                with (
                    conn.transaction(),
                    conn.cursor().copy(
                        "COPY telemetry (time, asset, metric, value) FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.set_types(ROW_TYPES)
                    for row in rows[i : i + batch_rows]:
                        copy.write_row(row)
            return len(rows) / (time.perf_counter() - t0)
    finally:
        fdb.drop_database(ADMIN, name)


def bench_writer(items: list[Accepted], batch_rows: int) -> dict[str, float]:
    """Rows/s of ingest.Writer paths (validation excluded), incl. a full replay."""
    out: dict[str, float] = {}
    per_batch = max(1, batch_rows // max(1, len(items[0].rows)))
    for mode in ("optimistic", "staging"):
        name, url = fresh_db(mode)
        try:
            writer = Writer(url, mode=mode)
            total = sum(len(a.rows) for a in items)
            for label in ("", " replay"):
                t0 = time.perf_counter()
                for i in range(0, len(items), per_batch):
                    writer.write(items[i : i + per_batch])
                out[f"writer {mode}{label}"] = total / (time.perf_counter() - t0)
            writer.close()
        finally:
            fdb.drop_database(ADMIN, name)
    return out


def bench_parse(msgs: list[tuple[str, bytes]], rows: int) -> float:
    t0 = time.perf_counter()
    rows_of(msgs)
    return rows / (time.perf_counter() - t0)


def _publish(url: str, msgs: list[tuple[str, bytes]], ready: Any, go: Any, result: Any) -> None:
    from forewarn import mqtt
    from forewarn.settings import MqttSettings

    s = MqttSettings(url=url)
    client = mqtt.paho_client(s, mqtt.client_id(s, "bench-pub"), max_inflight=1000)
    mqtt.connect_paho(client, s)
    ready.set()
    go.wait()
    t0 = time.perf_counter()
    infos = [client.publish(t, p, qos=1) for t, p in msgs]
    for info in infos:
        info.wait_for_publish(120)
    result.value = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()


def bench_e2e(
    msgs: list[tuple[str, bytes]], rows: int, workers: int, broker: Broker, log: Path
) -> dict[str, float]:
    name, url = fresh_db(f"e2e{workers}")
    env = {
        **os.environ,
        "FOREWARN_CONFIG": os.devnull,
        "FOREWARN_LOG_LEVEL": os.environ.get("FOREWARN_LOG_LEVEL", "WARNING"),
        "FOREWARN_DATABASE__DSN": url,
        "FOREWARN_MQTT__URL": broker.url,
        "FOREWARN_MQTT__CLIENT_ID_PREFIX": f"bench{workers}",
        "FOREWARN_INGEST__METRICS_INTERVAL_S": "0.1",
    }
    args = [sys.executable, "-m", "ingest", "run"]
    if workers > 1:
        args += ["--workers", str(workers), "--group", "bench"]
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
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
            while committed()[1] < workers:  # every worker connected and reporting
                if time.monotonic() > deadline:
                    raise TimeoutError("ingest workers did not start; see " + str(log))
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
        pub.join(30)
        return {"e2e_s": elapsed, "publish_s": took.value}
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--per-message", type=int, default=250)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--batch-rows", type=int, default=50_000)
    ap.add_argument("--writer-rows", type=int, default=250_000, help="rows for the write paths")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of raw / 1 worker / 2 workers")
    ap.add_argument(
        "--inflight", type=int, default=0, help="broker max_inflight_messages (0: as configured)"
    )
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "ingest_throughput.json"
    )
    a = ap.parse_args()

    msgs = payloads(a.samples, a.per_message, 1, a.assets)
    rows = len(msgs) * a.per_message
    console.print(
        f"{len(msgs):,} messages x {a.per_message} samples = {rows:,} rows, {a.assets} assets"
    )
    items = rows_of(msgs)
    results: dict[str, Any] = {"rows": rows, "messages": len(msgs), "per_message": a.per_message}
    subset = items[: max(1, a.writer_rows // a.per_message)]  # write paths: a smaller set
    labels = [
        ("raw binary COPY into telemetry (ceiling)", "raw_copy"),
        ("validation only (JSON + contract + policy)", "parse"),
        ("writer optimistic (COPY, staging on conflict)", "writer optimistic"),
        ("writer optimistic, full replay", "writer optimistic replay"),
        ("writer staging (COPY temp + INSERT ON CONFLICT)", "writer staging"),
        ("writer staging, full replay", "writer staging replay"),
        ("end to end, 1 worker (MQTT publish -> committed)", "e2e_1_workers"),
        ("end to end, 2 workers (shared subscription)", "e2e_2_workers"),
    ]
    runs: dict[str, list[float]] = {k: [] for _, k in labels}
    ratios: dict[str, list[float]] = {k: [] for _, k in labels}
    # Other work on this machine moves every figure, so each round measures the ceiling
    # next to everything else, and ratios are taken within a round (then the median).
    with tempfile.TemporaryDirectory(prefix="fw-bench-") as tmp, Progress(console=console) as bar:
        extra = f"max_inflight_messages {a.inflight}" if a.inflight else ""
        broker = Broker(home=Path(tmp) / "mqtt", extra_conf=extra).start()
        task = bar.add_task("rounds", total=a.repeat)
        try:
            for r in range(a.repeat):
                got = {"raw_copy": bench_raw(items, a.batch_rows), "parse": bench_parse(msgs, rows)}
                got.update(bench_writer(subset, a.batch_rows))
                for n in (1, 2):
                    e = bench_e2e(msgs, rows, n, broker, Path(tmp) / f"ingest{n}-{r}.log")
                    got[f"e2e_{n}_workers"] = rows / e["e2e_s"]
                for key, value in got.items():
                    runs[key].append(value)
                    ratios[key].append(value / got["raw_copy"])
                bar.advance(task)
        finally:
            broker.kill()

    med = {k: statistics.median(v) for k, v in runs.items()}
    table = Table(title=f"ingest throughput ({rows:,} samples, {a.per_message}/message, 1 metric)")
    for col in ("path", "rows (samples)/s", "vs raw COPY", "rounds (rows/s)"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for label, key in labels:
        table.add_row(
            label,
            f"{med[key]:,.0f}",
            f"{statistics.median(ratios[key]):.2f}",
            ", ".join(f"{v:,.0f}" for v in runs[key]),
        )
    console.print(table)
    console.print(
        "medians over rounds; each ratio is taken within its round, then the median; write paths "
        f"on the first {len(subset) * a.per_message:,} rows"
    )
    results.update(
        {
            "rounds": runs,
            "ratios_per_round": ratios,
            "median": med,
            "median_ratio": {k: statistics.median(v) for k, v in ratios.items()},
            "when": datetime.now(UTC).isoformat(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
        }
    )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
