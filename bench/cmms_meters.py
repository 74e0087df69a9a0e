"""Running-hour meters: cost of deriving them from the ``running`` metric.

A fresh database; one asset with a day of 1 Hz ``running`` samples (86,400 rows, cycling
on and off). Measured, median of 3:
- raw baseline: the same rows read in time order (``select time, value ... order by time``);
- a full derivation pass from no watermark (``meters.derive_asset`` in 50,000-row batches,
  meters and watermark written, audited);
- an incremental pass after one more minute of samples (the watermark's point: each run
  reads only the new rows).

Run: ``python -m bench.cmms_meters``.
"""

from __future__ import annotations

import functools
import os
import secrets
import statistics
import time
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from forewarn import db as fdb
from ticketing.clock import SystemClock
from ticketing.cmms import meters
from ticketing.store import Store

ADMIN_DSN = os.environ.get("FOREWARN_TEST_DSN", "postgresql://postgres@127.0.0.1:54329/postgres")
ROWS = 86_400
START = datetime(2026, 1, 5, tzinfo=UTC)


def _fill(dsn: str, asset: str, first: int, n: int) -> None:
    with fdb.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into telemetry (time, asset, metric, value) select %s + make_interval("
            "secs => g), %s, 'running', case when (g / 1800) %% 3 = 2 then 0 else 1 end"
            " from generate_series(%s, %s) g",
            (START, asset, first, first + n - 1),
        )


def main() -> None:
    name = f"fw_bench_meters_{secrets.token_hex(3)}"
    dsn = fdb.create_database(ADMIN_DSN, name)
    try:
        fdb.migrate(dsn)
        store = Store(dsn, SystemClock(), min_size=1, max_size=2)
        store.open()
        raw, full, inc = [], [], []
        for r in range(3):
            asset = f"bench-{r}"
            with fdb.connect(dsn, autocommit=True) as conn:
                conn.execute("insert into assets (asset, site) values (%s, 's')", (asset,))
            _fill(dsn, asset, 0, ROWS)
            with fdb.connect(dsn) as conn:
                t = time.perf_counter()
                conn.execute(
                    "select time, value from telemetry where asset = %s and metric = 'running'"
                    " order by time",
                    (asset,),
                ).fetchall()
                raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            while store.run(functools.partial(meters.derive_asset, asset=asset)) is not None:
                pass
            full.append(time.perf_counter() - t)
            _fill(dsn, asset, ROWS, 60)
            t = time.perf_counter()
            store.run(functools.partial(meters.derive_asset, asset=asset))
            inc.append(time.perf_counter() - t)
        store.close()
    finally:
        fdb.drop_database(ADMIN_DSN, name)
    table = Table(title=f"running-hour meters, {ROWS:,} rows of 'running' (median of 3)")
    for col in ("what", "seconds", "rows/s", "x raw read"):
        table.add_column(col)
    base = statistics.median(raw)
    for label, xs, n in (
        ("raw read of the rows (baseline)", raw, ROWS),
        ("full derivation pass", full, ROWS),
        ("incremental pass, 60 new rows", inc, 60),
    ):
        m = statistics.median(xs)
        ratio = f"{base / m * n / ROWS:.2f}" if n == ROWS else "-"  # throughput vs raw
        table.add_row(label, f"{m:.3f}", f"{n / m:,.0f}", ratio)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
