"""Every Grafana panel's SQL runs on the real schema and returns rows for seeded data.

Grafana cannot run here, so its macros are expanded the way its PostgreSQL datasource does
(with the TimescaleDB option on) and each query is executed against a seeded database.
"""

from __future__ import annotations

import importlib.util
import json
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
FROM, TO = NOW - timedelta(days=7), NOW + timedelta(minutes=5)
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


# Services with tables of their own append seed functions here (conn) -> None.
SEEDS: list[Any] = []


def test_dashboards_are_built_from_the_spec() -> None:
    module = _build_module()
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
