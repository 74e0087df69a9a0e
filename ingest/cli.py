"""``forewarn ingest``: run workers, run maintenance once, show what ingest has done."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from forewarn import db as fdb
from forewarn import observe
from forewarn import settings as fsettings
from ingest import config, maintenance

app = typer.Typer(help="MQTT to TimescaleDB ingest.", no_args_is_help=True)
console = Console()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="settings YAML (default ./forewarn.yaml)")
]


def _settings(config_file: Path | None) -> fsettings.Settings:
    if config_file is not None:
        os.environ["FOREWARN_CONFIG"] = str(config_file)
    fsettings.current.cache_clear()
    return fsettings.current()


def _on_signals(*events: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        for event in events:
            event.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _supervise(workers: int, group: str, config_file: Path | None) -> None:
    """Run ``workers`` worker processes sharing ``$share/<group>/...``; restart any that die."""
    stop = threading.Event()
    _on_signals(stop)
    base = [sys.executable, "-m", "ingest", "run", "--group", group]
    if config_file is not None:
        base += ["--config", str(config_file)]
    procs = {i: subprocess.Popen([*base, "--index", str(i)]) for i in range(workers)}
    while not stop.wait(1.0):
        for i, proc in procs.items():
            if proc.poll() is not None:
                logging.warning("ingest worker %d exited with %s; restarting", i, proc.returncode)
                procs[i] = subprocess.Popen([*base, "--index", str(i)])
    for proc in procs.values():
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


@app.command()
def run(
    config_file: ConfigOpt = None,
    group: Annotated[
        str | None, typer.Option(help="shared-subscription group: workers split the load")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
    index: Annotated[int, typer.Option(hidden=True, help="this worker's number")] = 0,
) -> None:
    """Consume telemetry until SIGTERM/Ctrl-C; acknowledge only what is committed."""
    from ingest.service import Ingestor

    s = _settings(config_file)
    observe.setup_logging(s, "ingest")
    cfg = config.load(s)
    if group is not None or workers > 1:
        cfg = cfg.model_copy(update={"group": config.IngestSettings(group=group or "ingest").group})
    if workers > 1:
        _supervise(workers, cfg.group or "ingest", config_file)
        return
    stop = threading.Event()
    worker = Ingestor(s, cfg, index=index)
    _on_signals(stop, worker.stopping)  # also ends a wait for the database at start
    worker.start()
    try:
        worker.run(stop)
    finally:
        worker.stop()


@app.command()
def maintain(config_file: ConfigOpt = None) -> None:
    """Refresh the hourly rollups and apply retention once (the scheduler does it too)."""
    s = _settings(config_file)
    cfg = config.load(s)
    if maintenance.setup_tsl(s.database.dsn, cfg):
        console.print("community edition: continuous aggregate and retention policies are set")
        return
    report = maintenance.run_once(s.database.dsn, cfg)
    console.print(
        "another worker is running maintenance"
        if report.skipped
        else f"rollups: {report.marks} hour(s) refreshed into {report.rollup_rows} row(s); "
        f"chunks dropped: {report.chunks_dropped}"
    )


@app.command()
def stats(config_file: ConfigOpt = None) -> None:
    """Per-worker counters and dead letters by reason."""
    s = _settings(config_file)
    with fdb.connect(s.database.dsn) as conn:
        workers = conn.execute(
            "SELECT worker, updated_at, messages, samples, rows_written, rows_duplicate,"
            " dead_letters, batches, batch_ms_p50, lag_s FROM ingest_metrics ORDER BY worker"
        ).fetchall()
        reasons = conn.execute(
            "SELECT left(reason, 80), count(*) FROM dead_letters WHERE service = 'ingest'"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 15"
        ).fetchall()
    table = Table(title="ingest workers")
    cols = ("worker", "updated", "messages", "samples", "rows", "dup", "dead", "batches")
    for col in (*cols, "p50 ms", "lag s"):
        table.add_column(col, justify="left" if col in ("worker", "updated") else "right")
    for w in workers:
        p50 = "-" if w[8] is None else f"{w[8]:.1f}"
        lag = "-" if w[9] is None else f"{w[9]:.2f}"
        table.add_row(w[0], f"{w[1]:%Y-%m-%d %H:%M:%S}", *(f"{v:,}" for v in w[2:8]), p50, lag)
    console.print(table)
    dead = Table(title="dead letters by reason")
    dead.add_column("reason")
    dead.add_column("count", justify="right")
    for reason, n in reasons:
        dead.add_row(reason, f"{n:,}")
    console.print(dead)
