"""Console page latency against the JSON API route that reads the same data.

Run: ``python -m bench.console_pages [--assets 200] [--hours 24] [--rounds 15]``.
A fresh database (on the cluster named by FOREWARN_TEST_DSN) gets ``--assets`` pumps with
three metrics at one sample a minute for ``--hours`` (binary COPY), one predictive ticket
per asset through the real intake, and the demo engineers. The app runs in process
(TestClient, no network); each page is fetched ``--rounds`` times after one warm-up and the
median is reported, with the ratio to its API baseline measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.progress import track
from rich.table import Table

from forewarn import db as fdb
from forewarn.contract import AnomalyEvent
from forewarn.settings import load
from ingest.maintenance import refresh_rollups
from ticketing import demo, intake
from ticketing.app import create_app
from ticketing.store import Actor

ROOT = Path(__file__).resolve().parents[1]
ADMIN = os.environ.get("FOREWARN_TEST_DSN", "postgresql://postgres@127.0.0.1:54329/postgres")
console = Console(width=None if sys.stdout.isatty() else 130)
METRICS = ("vibration_rms", "bearing_temp_c", "flow_m3h")


def seed(dsn: str, assets: int, hours: int) -> int:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    with fdb.connect(dsn, autocommit=True) as conn:
        for i in track(range(assets), description="telemetry", console=console):
            name = f"bench-pump-{i:04d}"
            conn.execute(
                "insert into assets (asset, site, asset_class, lat, lon, last_seen)"
                " values (%s, %s, 'centrifugal_pump', %s, %s, %s)",
                (name, f"site-{'abc'[i % 3]}", 51.4 + (i % 17) / 16, 4.4 + (i % 13) / 12, end),
            )
            with conn.cursor().copy(
                "copy telemetry (time, asset, metric, value) from stdin"
            ) as copy:
                for m, metric in enumerate(METRICS):
                    for k in range(hours * 60):
                        t = end - timedelta(minutes=hours * 60 - k)
                        copy.write_row((t, name, metric, 10 * (m + 1) + math.sin(k / 30)))
    return assets * len(METRICS) * hours * 60


def open_tickets(app: Any, assets: int) -> None:
    store = app.state.store
    now = datetime.now(UTC)
    for i in range(assets):
        ev = AnomalyEvent.model_validate(
            {
                "event_id": f"bench-{i}",
                "site": f"site-{'abc'[i % 3]}",
                "asset": f"bench-pump-{i:04d}",
                "ts": now.isoformat(),
                "detector": {"name": "hst", "version": "1", "config_hash": "bench"},
                "score": 0.9,
                "severity": "warning",
                "fault_mode": "bearing_wear",
                "contributors": [{"metric": "vibration_rms", "weight": 0.8}],
            }
        )
        store.run(lambda tx, ev=ev: intake.ingest(tx, Actor("bench", "integration"), ev))


def median_ms(client: TestClient, path: str, rounds: int, **kw: Any) -> float:
    r = client.get(path, **kw)
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        client.get(path, **kw)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=200)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "console_pages.json")
    a = ap.parse_args()
    name = f"fw_bench_console_{os.getpid()}_{secrets.token_hex(2)}"
    dsn = fdb.create_database(ADMIN, name)
    try:
        fdb.migrate(dsn)
        rows = seed(dsn, a.assets, a.hours)
        tokens = {n: t for n, _r, t in demo.seed(dsn)}
        settings = load(path=os.devnull, environ={"FOREWARN_DATABASE__DSN": dsn})
        app = create_app(settings, background=False, mqtt=False)
        with TestClient(app) as client:
            open_tickets(app, a.assets)
            api = {"headers": {"Authorization": f"Bearer {tokens['demo-dispatcher']}"}}
            page = client.get("/console/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            client.post(
                "/console/login", data={"csrf": csrf.group(1), "token": tokens["demo-dispatcher"]}
            )
            tid = client.get("/tickets?limit=1", **api).json()[0]["id"]
            raw_fleet = median_ms(client, "/console/fleet", a.rounds)
            with fdb.connect(dsn, autocommit=True) as conn:  # what ingest's refresh job keeps
                conn.execute(
                    "insert into ingest_rollup_dirty (bucket, asset) select distinct"
                    " time_bucket('1 hour', time), asset from telemetry on conflict do nothing"
                )
                refresh_rollups(conn)
            pairs = [
                ("board", "/console/board", "/tickets?limit=300"),
                ("board fragment (poll)", "/console/board/fragment", "/tickets?limit=300"),
                ("ticket detail + evidence", f"/console/tickets/{tid}", f"/tickets/{tid}"),
                ("fleet (hourly rollups)", "/console/fleet", "/tickets?limit=300"),
                ("map", "/console/map", "/engineers"),
                ("KPIs", "/console/kpis", "/kpis"),
            ]
            results: list[dict[str, Any]] = []
            for label, page_path, api_path in pairs:
                base = median_ms(client, api_path, a.rounds, **api)
                ms = median_ms(client, page_path, a.rounds)
                results.append(
                    {
                        "page": label,
                        "path": page_path,
                        "ms": round(ms, 2),
                        "api_path": api_path,
                        "api_ms": round(base, 2),
                        "ratio": round(ms / base, 2),
                    }
                )
            results.append(
                {
                    "page": "fleet (raw telemetry, no rollups)",
                    "path": "/console/fleet",
                    "ms": round(raw_fleet, 2),
                    "api_path": "/tickets?limit=300",
                    "api_ms": results[0]["api_ms"],
                    "ratio": round(raw_fleet / results[0]["api_ms"], 2),
                }
            )
    finally:
        fdb.drop_database(ADMIN, name)
    table = Table(
        title=f"console pages, {a.assets} assets, {rows:,} telemetry rows (median of {a.rounds})"
    )
    for col in ("page", "median ms", "API baseline", "API ms", "page / API"):
        table.add_column(col, justify="left" if col in ("page", "API baseline") else "right")
    for r in results:
        table.add_row(
            r["page"], f"{r['ms']:.1f}", r["api_path"], f"{r['api_ms']:.1f}", f"{r['ratio']:.2f}"
        )
    console.print(table)
    a.out.parent.mkdir(exist_ok=True)
    a.out.write_text(
        json.dumps(
            {"assets": a.assets, "telemetry_rows": rows, "rounds": a.rounds, "pages": results},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
