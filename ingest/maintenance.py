"""Retention and hourly rollups, on both TimescaleDB editions.

Apache build (no jobs, no continuous aggregates): an APScheduler job in each ingest worker
refreshes the rollup table from the invalidation log and drops old chunks; a session
advisory lock makes one worker do it at a time. Community (TSL) build: a continuous
aggregate with a refresh policy and ``add_retention_policy`` do the same inside the
database, and the ``telemetry_hourly`` view is pointed at the aggregate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler

from forewarn import db as fdb
from forewarn.errors import ServiceUnavailable
from ingest.config import IngestSettings

log = logging.getLogger(__name__)

LOCK_KEY = 0x1E57_0010  # advisory lock: one maintenance run at a time across workers

TAKE_MARKS = "DELETE FROM ingest_rollup_dirty RETURNING bucket, asset"
CLEAR = """
DELETE FROM ingest_rollup_hourly h USING unnest(%s::timestamptz[], %s::text[]) AS d(bucket, asset)
WHERE h.bucket = d.bucket AND h.asset = d.asset
"""
RECOMPUTE = """
INSERT INTO ingest_rollup_hourly (bucket, asset, metric, n, sum, min, max)
SELECT d.bucket, t.asset, t.metric, count(*), sum(t.value), min(t.value), max(t.value)
FROM unnest(%s::timestamptz[], %s::text[]) AS d(bucket, asset)
JOIN telemetry t ON t.asset = d.asset AND t.time >= d.bucket
    AND t.time < d.bucket + interval '1 hour'
GROUP BY d.bucket, t.asset, t.metric
"""
CAGG = """
CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_hourly_cagg
WITH (timescaledb.continuous) AS
SELECT time_bucket('1 hour', time) AS bucket, asset, metric,
       count(*) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM telemetry GROUP BY 1, 2, 3 WITH NO DATA
"""


@dataclass
class Report:
    marks: int = 0
    rollup_rows: int = 0
    chunks_dropped: int = 0
    skipped: bool = False


def refresh_rollups(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """Recompute the (hour, asset) rollups marked since the last run, in one transaction.

    Deleting a mark waits for any writer transaction that holds it, and later statements
    see that writer's rows, so no committed row is ever missed.
    """
    with conn.transaction():
        marks = conn.execute(TAKE_MARKS).fetchall()
        if not marks:
            return 0, 0
        buckets = [m[0] for m in marks]
        assets = [m[1] for m in marks]
        conn.execute(CLEAR, (buckets, assets))
        cur = conn.execute(RECOMPUTE, (buckets, assets))
        return len(marks), max(cur.rowcount, 0)


def drop_old(conn: psycopg.Connection[Any], cfg: IngestSettings) -> int:
    dropped = 0
    with conn.transaction():
        if cfg.retention_days:
            rows = conn.execute(
                "SELECT drop_chunks('telemetry', older_than => %s * interval '1 day')",
                (cfg.retention_days,),
            ).fetchall()
            dropped = len(rows)
        if cfg.rollup_retention_days:
            conn.execute(
                "DELETE FROM ingest_rollup_hourly WHERE bucket < now() - %s * interval '1 day'",
                (cfg.rollup_retention_days,),
            )
    return dropped


def run_once(dsn: str, cfg: IngestSettings) -> Report:
    """One maintenance pass (Apache build); skipped when another worker holds the lock."""
    with fdb.connect(dsn, autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        if not got or not got[0]:
            return Report(skipped=True)
        try:
            marks, rows = refresh_rollups(conn)
            dropped = 0 if fdb.has_tsl(conn) else drop_old(conn, cfg)
            return Report(marks, rows, dropped)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def setup_tsl(dsn: str, cfg: IngestSettings) -> bool:
    """With the community licence, let TimescaleDB run rollups and retention itself."""
    with fdb.connect(dsn, autocommit=True) as conn:
        if not fdb.has_tsl(conn):
            return False
        conn.execute(CAGG)
        conn.execute(
            "SELECT add_continuous_aggregate_policy('telemetry_hourly_cagg', "
            "start_offset => NULL, end_offset => interval '1 minute', "
            "schedule_interval => interval '5 minutes', if_not_exists => true)"
        )
        conn.execute(
            "CREATE OR REPLACE VIEW telemetry_hourly AS SELECT bucket, asset, metric, n, "
            "sum / n AS avg, min, max FROM telemetry_hourly_cagg"
        )
        if cfg.retention_days:
            conn.execute(
                "SELECT add_retention_policy('telemetry', %s * interval '1 day', "
                "if_not_exists => true)",
                (cfg.retention_days,),
            )
        if cfg.rollup_retention_days:
            conn.execute(
                "SELECT add_retention_policy('telemetry_hourly_cagg', %s * interval '1 day', "
                "if_not_exists => true)",
                (cfg.rollup_retention_days,),
            )
    return True


def start_scheduler(dsn: str, cfg: IngestSettings) -> BackgroundScheduler:
    """Run :func:`run_once` every ``maintenance_interval_s`` on a background thread."""

    def job() -> None:
        try:
            report = run_once(dsn, cfg)
            if report.marks or report.chunks_dropped:
                log.info("maintenance: %s", report)
        except (psycopg.Error, ServiceUnavailable) as exc:
            log.warning("maintenance skipped: %s", exc)

    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(
        job,
        "interval",
        seconds=cfg.maintenance_interval_s,
        id="ingest-maintenance",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
