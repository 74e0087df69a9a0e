"""Every Grafana panel's SQL runs on the real schema and returns rows for seeded data.

Grafana cannot run here, so its macros are expanded the way its PostgreSQL datasource does
(with the TimescaleDB option on) and each query is executed against a seeded database.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
# The window ends well after collection: rows seeded with now() late in a long run still fall in it.
FROM, TO = NOW - timedelta(days=7), NOW + timedelta(hours=12)
SEED_ASSET = "dash-pump-1"


def _build_module() -> Any:
    spec = importlib.util.spec_from_file_location("dash_build", ROOT / "dashboards" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expand(sql: str, interval_s: int = 3600) -> str:
    """Grafana's macros, as its PostgreSQL datasource expands them with TimescaleDB on."""
    sql = re.sub(
        r"\$__timeGroupAlias\((\w+),\s*\$__interval\)",
        lambda m: f"time_bucket('{interval_s}s', {m[1]}) AS \"time\"",
        sql,
    )
    sql = re.sub(
        r"\$__timeGroup\((\w+),\s*\$__interval\)", rf"time_bucket('{interval_s}s', \1)", sql
    )
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)", rf"\1 BETWEEN '{FROM.isoformat()}' AND '{TO.isoformat()}'", sql
    )
    sql = sql.replace("$__timeFrom()", f"'{FROM.isoformat()}'").replace(
        "$__timeTo()", f"'{TO.isoformat()}'"
    )
    sql = sql.replace("$__interval", f"'{interval_s}s'")
    sql = sql.replace("$asset", SEED_ASSET)
    assert "$" not in sql.replace("$$", ""), f"unexpanded macro in: {sql}"
    return sql


def panels() -> Iterator[tuple[str, str, str]]:
    for path in sorted((ROOT / "dashboards" / "json").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                if "rawSql" in target:  # Prometheus panels: see test_services_board_...
                    yield path.stem, panel["title"], target["rawSql"]


@pytest.fixture(scope="module")
def seeded(dsn: str) -> str:
    """A week of a small fleet, plus whatever each service's seed adds."""
    from forewarn import db as fdb

    with fdb.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into assets (asset, site, asset_class, last_seen) values"
            " (%s, 'dash-site', 'centrifugal_pump', now() - interval '1 hour'),"
            " ('dash-motor-1', 'dash-site', 'electric_motor', now())"
            " on conflict do nothing",
            (SEED_ASSET,),
        )
        conn.execute(
            "insert into telemetry (time, asset, metric, value)"
            " select t, a, m, random() from generate_series(%s::timestamptz, %s, interval '5 minutes') t,"
            " unnest(array[%s, 'dash-motor-1']) a, unnest(array['vib_x_rms', 'bearing_temp_c']) m"
            " on conflict do nothing",
            (FROM, TO, SEED_ASSET),
        )
        conn.execute(
            "insert into dead_letters (service, topic, payload, reason)"
            " values ('ingest', 'forewarn/v1/s/a/telemetry', '{bad', 'not JSON: x')"
        )
        for seed in SEEDS:
            seed(conn)
    return dsn


def _seed_rollups_and_metrics(conn: psycopg.Connection[Any]) -> None:
    """Hourly rollups as ingest's maintenance job builds them, and a worker's metrics row."""
    from ingest import maintenance

    conn.execute(
        "insert into ingest_rollup_dirty (bucket, asset)"
        " select distinct time_bucket('1 hour', time), asset from telemetry on conflict do nothing"
    )
    maintenance.refresh_rollups(conn)
    conn.execute(
        "insert into ingest_metrics (worker, started_at, updated_at, messages, samples,"
        " rows_written) values ('dash-worker', now(), now(), 10, 100, 200)"
        " on conflict (worker) do nothing"
    )


def _seed_anomalies_and_tickets(conn: psycopg.Connection[Any]) -> None:
    """Anomalies through ticketing's real intake: they open a predictive ticket."""
    from fastapi.testclient import TestClient

    from forewarn.settings import load
    from ticketing.app import create_app
    from ticketing.auth import create_token

    dsn = conn.info.dsn
    settings = load(path=os.devnull, environ={"FOREWARN_DATABASE__DSN": dsn})
    _, token = create_token(conn, "dash-seed", "integration")
    with TestClient(create_app(settings, background=False, mqtt=False)) as client:
        for i, score in enumerate((0.7, 0.9)):
            ts = (NOW - timedelta(hours=3 - i)).isoformat()
            event = {
                "event_id": f"dash-{i}",
                "site": "dash-site",
                "asset": SEED_ASSET,
                "ts": ts,
                "detector": {"name": "dash", "version": "1", "config_hash": "x"},
                "score": score,
                "severity": "warning",
                "fault_mode": "bearing_wear",
            }
            r = client.post("/anomalies", json=event, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code < 300, r.text
            conn.execute(
                "insert into anomalies (time, event_id, site, asset, detector, detector_version,"
                " config_hash, score, severity, fault_mode, state, payload)"
                " values (%s, %s, 'dash-site', %s, 'dash', '1', 'x', %s, 'warning',"
                " 'bearing_wear', 'open', '{}') on conflict do nothing",
                (ts, f"dash-{i}", SEED_ASSET, score),
            )


def _seed_health(conn: psycopg.Connection[Any]) -> None:
    """A detector past its warm-up checkpointed by the detectors' own store: asset_health."""
    from detectors import AssetDetector, load_config, store

    det = AssetDetector(SEED_ASSET, load_config().for_class("default"), site="dash-site")
    start = (NOW - timedelta(hours=8)).timestamp()
    for i in range(400):
        det.update(start + 60 * i, {"flow": 30 + (i % 7) * 0.1, "pressure": 6 + (i % 5) * 0.02})
        if i % 100 == 99:
            store.save_checkpoints(conn, [det], "dash-worker")


# Services with tables of their own seed them through their own code.
SEEDS: list[Any] = [_seed_rollups_and_metrics, _seed_anomalies_and_tickets, _seed_health]


def test_dashboards_are_built_from_the_spec() -> None:
    module = _build_module()
    on_disk = json.loads((ROOT / "dashboards" / "json" / "services.json").read_text())
    assert on_disk == module.render_services(), "run python dashboards/build.py (services)"
    for uid, spec in module.DASHBOARDS.items():
        on_disk = json.loads((ROOT / "dashboards" / "json" / f"{uid}.json").read_text())
        assert on_disk == module.render(uid, spec), (
            f"run python dashboards/build.py ({uid} is stale)"
        )


@pytest.mark.parametrize(("board", "title", "sql"), list(panels()), ids=lambda v: str(v)[:40])
def test_panel_sql_returns_rows(seeded: str, board: str, title: str, sql: str) -> None:
    with psycopg.connect(seeded) as conn:
        rows = conn.execute(expand(sql)).fetchall()
    assert rows, f"{board} / {title} returned nothing for seeded data"


def _exported(dsn: str) -> set[str]:
    """Sample names the services' collectors export, from the real collector classes."""
    import queue
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from detectors.metrics import Collector as DetectorCollector
    from gateway.health import Health
    from gateway.metrics import Collector as GatewayCollector
    from ingest.metrics import Metrics
    from ingest.metrics import registry as ingest_registry
    from ticketing.probes import Collector as TicketingCollector
    from ticketing.probes import EventCounter

    health = Health("g", "s")
    health.device("d", "a")
    gw = SimpleNamespace(
        config=SimpleNamespace(gateway="g"),
        health=health,
        uplink=SimpleNamespace(connected=True),
        buffer=SimpleNamespace(dropped=lambda: (0, 0), depth=lambda: (0, 0)),
        batcher=SimpleNamespace(samples_added=0, write_errors=0),
    )
    det = SimpleNamespace(
        worker="w", counts={}, inbox=queue.Queue(), held=[], detectors={}, last_scored=0.0
    )
    metrics = Metrics("w")
    metrics.reasons["json"] = 1
    registries = [ingest_registry(metrics, lambda: 0)]
    for collector in (
        DetectorCollector(det),  # type: ignore[arg-type]
        GatewayCollector(gw),  # type: ignore[arg-type]
        TicketingCollector(dsn, EventCounter()),
    ):
        reg = CollectorRegistry()
        reg.register(collector)
        registries.append(reg)
    return {
        sample.name
        for reg in registries
        for fam in text_string_to_metric_families(generate_latest(reg).decode())
        for sample in fam.samples
    }


def test_services_board_only_names_metrics_the_services_export(seeded: str) -> None:
    """No SQL for a Prometheus panel: each expression must name series that exist."""
    exported = _exported(seeded)
    assert "forewarn_ticketing_tickets_open" in exported  # the database part was read
    board = json.loads((ROOT / "dashboards" / "json" / "services.json").read_text())
    seen = 0
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "forewarn-prom"
        for target in panel["targets"]:
            for name in re.findall(r"\bforewarn_[a-z0-9_]+", target["expr"]):
                seen += 1
                assert name in exported, f"{panel['title']}: {name} is not exported"
    assert seen >= len(board["panels"]) - 1  # all but "Services up" name our metrics
