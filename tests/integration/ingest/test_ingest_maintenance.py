"""Hourly rollups, retention and the metrics outputs against the real database."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from ingest_helpers import (
    ROOT,
    Publisher,
    batch,
    env_for,
    free_port,
    ingest_settings,
    recent,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families

from forewarn.contract import topics
from ingest import Ingestor, maintenance
from ingest.config import IngestSettings
from ingest.config import load as load_ingest
from ingest.validate import Accepted
from ingest.writer import Writer

pytestmark = pytest.mark.integration


def _accepted(asset: str, start: datetime, n: int, step_s: int, value: float) -> Accepted:
    rows = [(start + timedelta(seconds=i * step_s), asset, "temp", value + i) for i in range(n)]
    return Accepted(
        topic=topics.telemetry("site-r", asset),
        payload=b"",
        site="site-r",
        asset=asset,
        asset_class=None,
        gateway=None,
        rows=rows,
        samples=n,
        newest=rows[-1][0],
        oldest=rows[0][0],
    )


ROLLUP_CHECK = """
select h.bucket, h.n, h.avg, h.min, h.max, t.n, t.avg, t.min, t.max
from telemetry_hourly h
full join (select time_bucket('1 hour', time) bucket, count(*) n, avg(value) avg,
           min(value) min, max(value) max from telemetry where asset = %(a)s group by 1) t
  on t.bucket = h.bucket
where coalesce(h.asset, %(a)s) = %(a)s and (h.asset = %(a)s or h.asset is null)
order by 1
"""


def _rollups_match(db: psycopg.Connection[Any], asset: str) -> list[tuple[Any, ...]]:
    rows = db.execute(ROLLUP_CHECK, {"a": asset}).fetchall()
    for r in rows:
        assert r[1] == r[5] and r[3] == r[7] and r[4] == r[8], r
        assert r[2] == pytest.approx(r[6])
    return rows


def test_hourly_rollups_follow_inserts_incrementally_and_ignore_replays(
    dsn: str, db: psycopg.Connection[Any], site: str
) -> None:
    asset = f"{site}-roll"
    hour = (datetime.now(UTC) - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    writer = Writer(dsn)
    cfg = IngestSettings()
    first = _accepted(asset, hour + timedelta(minutes=30), 120, 30, 10.0)  # spans 2 hours
    writer.write([first])
    maintenance.run_once(dsn, cfg)
    assert len(_rollups_match(db, asset)) == 2
    writer.write([_accepted(asset, hour + timedelta(minutes=31, seconds=10), 10, 60, 500.0), first])
    maintenance.run_once(dsn, cfg)
    rows = _rollups_match(db, asset)
    assert [r[1] for r in rows] == [60 + 10, 60]
    assert rows[0][4] == 509.0
    assert db.execute(
        "select count(*) from ingest_rollup_dirty where asset = %s", (asset,)
    ).fetchone() == (0,)
    writer.close()


def test_retention_drops_old_chunks_and_keeps_recent_ones(
    dsn: str, db: psycopg.Connection[Any], site: str
) -> None:
    old_asset, new_asset = f"{site}-old", f"{site}-new"
    writer = Writer(dsn)
    writer.write(
        [
            _accepted(old_asset, datetime.now(UTC) - timedelta(days=20), 5, 60, 1.0),
            _accepted(new_asset, datetime.now(UTC) - timedelta(hours=1), 5, 60, 1.0),
        ]
    )
    writer.close()
    report = maintenance.run_once(dsn, IngestSettings(retention_days=10, rollup_retention_days=10))
    assert report.chunks_dropped >= 1
    left = dict(
        db.execute(
            "select asset, count(*) from telemetry where asset in (%s, %s) group by 1",
            (old_asset, new_asset),
        ).fetchall()
    )
    assert left == {new_asset: 5}
    assert db.execute(
        "select count(*) from ingest_rollup_hourly where asset = %s", (old_asset,)
    ).fetchone() == (0,)


def test_metrics_are_served_and_stored(
    dsn: str, broker: Any, site: str, db: psycopg.Connection[Any]
) -> None:
    port = free_port()
    s = ingest_settings(dsn, broker.url, site, metrics_port=port, metrics_interval_s=0.2)
    worker = Ingestor(s, load_ingest(s)).start()
    pub = Publisher(broker.url)
    try:
        pub.send(topics.telemetry(site, f"{site}-m"), batch(f"{site}-m", 1, 7, recent()))
        pub.send(topics.telemetry(site, f"{site}-m"), b"garbage")
        pub.flush()
        wait_for(lambda: worker.metrics.messages >= 2, 20, "both messages committed")
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        values = {
            (s.name, s.labels.get("reason")): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
            if s.labels.get("worker") == worker.name
        }
        assert values[("forewarn_ingest_samples_total", None)] == 7
        assert values[("forewarn_ingest_dead_letters_total", None)] == 1
        assert values[("forewarn_ingest_rows_written_total", None)] == 14
        assert values[("forewarn_ingest_dead_letter_reasons_total", "json")] == 1  # b"garbage"
        worker.report()
        row = db.execute(
            "select messages, samples, rows_written, dead_letters from ingest_metrics where worker = %s",
            (worker.name,),
        ).fetchone()
        assert row == (2, 7, 14, 1)
    finally:
        pub.close()
        worker.stop()


def test_cli_maintain_and_stats_run_against_the_database(dsn: str, site: str) -> None:
    env = {**env_for(dsn, "mqtt://127.0.0.1:9", site), "COLUMNS": "200"}
    Writer(dsn).write(
        [_accepted(f"{site}-cli", datetime.now(UTC) - timedelta(hours=2), 3, 60, 1.0)]
    )
    for args, expect in ((["maintain"], "rollups:"), (["stats"], "dead letters by reason")):
        done = subprocess.run(
            [sys.executable, "-m", "ingest", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert expect in done.stdout
