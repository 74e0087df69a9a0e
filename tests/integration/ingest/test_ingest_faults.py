"""Crash and outage tests: every published sample ends in the hypertable exactly once.

Ingest runs as a child process (``python -m ingest run``) so that it can be SIGKILLed,
against the session's broker (persistent session, unbounded offline queue).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ingest_helpers import (
    Publisher,
    batch,
    count,
    env_for,
    free_port,
    recent,
    spawn,
    wait_for,
    wait_subscribed,
)

from forewarn import db as fdb
from forewarn.contract import topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = 600
SAMPLES = 40  # x 2 metrics per sample
ASSETS = 6


def _stream(url: str, site: str, done: threading.Event, pace: float = 0.002) -> None:
    """Publish MESSAGES batches round-robin over ASSETS assets, a little paced."""
    pub = Publisher(url)
    start = recent(120)  # the stream spans ~67 minutes of sample time
    try:
        for seq in range(MESSAGES):
            asset = f"{site}-a{seq % ASSETS}"
            first = start + timedelta(seconds=(seq // ASSETS) * SAMPLES)
            pub.send(topics.telemetry(site, asset), batch(asset, seq, SAMPLES, first))
            time.sleep(pace)
    finally:
        pub.close()
        done.set()


def _exactly_once(dsn: str, site: str) -> tuple[int, int]:
    total = count(dsn, "select count(*) from telemetry where asset like %s", f"{site}-%")
    distinct = count(
        dsn,
        "select count(*) from (select distinct asset, metric, time, value from telemetry"
        " where asset like %s) d",
        f"{site}-%",
    )
    return total, distinct


EXPECTED = MESSAGES * SAMPLES * 2


def _stop(proc: Any) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except Exception:
            proc.kill()
            proc.wait(5)


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(
    dsn: str, broker: Any, site: str, tmp_path: Path
) -> None:
    env = env_for(dsn, broker.url, site)
    log = tmp_path / "ingest.log"
    proc = spawn(env, log)
    try:
        wait_subscribed(dsn, site)
        done = threading.Event()
        threading.Thread(target=_stream, args=(broker.url, site, done), daemon=True).start()
        where = "select count(*) from telemetry where asset like %s"
        wait_for(lambda: count(dsn, where, f"{site}-%") > EXPECTED // 4, 60, "a quarter stored")
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream, with messages in flight
        proc.wait(10)
        stored_at_kill = count(dsn, where, f"{site}-%")
        assert stored_at_kill < EXPECTED, "the kill came too late to test anything"
        time.sleep(0.5)  # messages keep arriving at the broker while ingest is dead
        proc = spawn(env, log)
        assert done.wait(120), "publisher did not finish"
        wait_for(
            lambda: count(dsn, where, f"{site}-%") >= EXPECTED,
            30,
            f"every sample stored ({count(dsn, where, f'{site}-%')} of {EXPECTED})",
        )
        time.sleep(0.5)  # a late duplicate would show up now
        assert _exactly_once(dsn, site) == (EXPECTED, EXPECTED)
    finally:
        _stop(proc)
    assert "Traceback" not in log.read_text()


def _prometheus(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("forewarn_ingest_"):
            name, value = line.split(" ")
            out[name.split("{")[0].removeprefix("forewarn_ingest_")] = float(value)
    return out


def test_postgres_restart_mid_stream_loses_nothing(
    pg_cluster: Any, broker: Any, site: str, tmp_path: Path
) -> None:
    dsn = pg_cluster.dsn
    fdb.migrate(dsn)
    port = free_port()
    env = env_for(dsn, broker.url, site, retry_max_s=1, metrics_port=port)
    log = tmp_path / "ingest.log"
    proc = spawn(env, log)
    try:
        wait_subscribed(dsn, site)
        done = threading.Event()
        threading.Thread(target=_stream, args=(broker.url, site, done), daemon=True).start()
        where = "select count(*) from telemetry where asset like %s"
        wait_for(lambda: count(dsn, where, f"{site}-%") > EXPECTED // 4, 60, "a quarter stored")
        pg_cluster.stop("fast")  # ingest's connection breaks mid-batch
        # The whole stream reaches the broker while the database is down ...
        assert done.wait(60), "publisher did not finish"
        time.sleep(1.5)  # a metrics refresh
        assert proc.poll() is None, "ingest died while the database was down"
        m = _prometheus(port)
        # ... but ingest holds no more than the broker's in-flight window (100 here,
        # unacknowledged), and the broker keeps the rest: bounded memory, nothing lost.
        assert 0 < m["pending"] <= 100, m
        assert m["messages_total"] + m["pending"] < MESSAGES, m
        assert m["db_retries_total"] > 0, m
        pg_cluster.start()
        wait_for(
            lambda: count(dsn, where, f"{site}-%") >= EXPECTED,
            30,
            f"every sample stored ({count(dsn, where, f'{site}-%')} of {EXPECTED})",
        )
        time.sleep(0.5)
        assert _exactly_once(dsn, site) == (EXPECTED, EXPECTED)
    finally:
        _stop(proc)
    assert proc.returncode == 0, log.read_text()[-2000:]


def test_two_workers_share_the_load_and_store_everything_once(
    dsn: str, broker: Any, site: str, tmp_path: Path, db: psycopg.Connection[Any]
) -> None:
    env = env_for(dsn, broker.url, site)
    log = tmp_path / "ingest.log"
    proc = spawn(env, log, "--workers", "2", "--group", "g2")
    try:
        wait_for(
            lambda: (
                count(
                    dsn,
                    "select count(*) from ingest_metrics where worker like %s",
                    f"{site}-%-g2-%",
                )
                == 2
            ),
            30,
            "both workers to report",
        )
        done = threading.Event()
        _stream(broker.url, site, done, pace=0)
        where = "select count(*) from telemetry where asset like %s"
        wait_for(
            lambda: count(dsn, where, f"{site}-%") >= EXPECTED,
            30,
            f"every sample stored ({count(dsn, where, f'{site}-%')} of {EXPECTED})",
        )
        assert _exactly_once(dsn, site) == (EXPECTED, EXPECTED)
        wait_for(
            lambda: (
                count(
                    dsn,
                    "select sum(messages) from ingest_metrics where worker like %s",
                    f"{site}-%",
                )
                >= MESSAGES
            ),
            10,
            "the workers' metrics",
        )
        shares = db.execute(
            "select worker, messages from ingest_metrics where worker like %s order by worker",
            (f"{site}-%",),
        ).fetchall()
        assert len(shares) == 2 and all(m > 0 for _, m in shares), shares
        assert sum(m for _, m in shares) == MESSAGES  # no fault here: no redelivery either
    finally:
        _stop(proc)
    assert proc.returncode == 0
