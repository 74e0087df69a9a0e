"""Generate the Grafana dashboards in ``json/`` from the compact panel list below.

Run ``python dashboards/build.py`` after editing; a test fails when ``json/`` is stale and
runs every panel's SQL against a seeded database (Grafana cannot run on the CI machine).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DS = {"type": "grafana-postgresql-datasource", "uid": "forewarn-tsdb"}

Panel = tuple[str, str, str]  # (title, visualisation, SQL)

ASSET_VAR = {
    "name": "asset",
    "type": "query",
    "datasource": DS,
    "query": "SELECT asset FROM assets ORDER BY asset",
    "refresh": 1,
}

DASHBOARDS: dict[str, dict[str, Any]] = {
    "fleet-health": {
        "title": "Fleet health",
        "vars": [],
        "panels": [
            (
                "Assets by class",
                "table",
                "SELECT coalesce(asset_class, 'unknown') AS asset_class, count(*) AS assets,"
                " count(*) FILTER (WHERE last_seen > now() - interval '10 minutes') AS reporting"
                " FROM assets GROUP BY 1 ORDER BY 1",
            ),
            (
                "Silent assets (no data for 10 minutes)",
                "table",
                "SELECT asset, site, asset_class, last_seen FROM assets"
                " WHERE last_seen IS NULL OR last_seen < $__timeTo()::timestamptz - interval '10 minutes'"
                " ORDER BY last_seen NULLS FIRST LIMIT 100",
            ),
            (
                "Samples per hour, fleet",
                "timeseries",
                "SELECT time_bucket('1 hour', time) AS time, count(*) AS samples FROM telemetry"
                " WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ),
        ],
    },
    "asset-detail": {
        "title": "Asset detail",
        "vars": [ASSET_VAR],
        "panels": [
            (
                "Signals",
                "timeseries",
                "SELECT $__timeGroupAlias(time, $__interval), metric, avg(value) AS value"
                " FROM telemetry WHERE asset = '$asset' AND $__timeFilter(time)"
                " GROUP BY 1, 2 ORDER BY 1",
            ),
        ],
    },
    "ingest-health": {
        "title": "Ingest health",
        "vars": [],
        "panels": [
            (
                "Rows stored per minute",
                "timeseries",
                "SELECT time_bucket('1 minute', time) AS time, count(*) AS rows FROM telemetry"
                " WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ),
            (
                "Dead letters per hour by reason",
                "timeseries",
                "SELECT time_bucket('1 hour', received_at) AS time,"
                " split_part(reason, ':', 1) AS reason, count(*) AS letters"
                " FROM dead_letters WHERE $__timeFilter(received_at) GROUP BY 1, 2 ORDER BY 1",
            ),
            (
                "Latest dead letters",
                "table",
                "SELECT received_at, service, topic, reason, left(encode(payload, 'escape'), 200)"
                " AS payload FROM dead_letters ORDER BY id DESC LIMIT 50",
            ),
        ],
    },
}


def _panel(i: int, title: str, kind: str, sql: str) -> dict[str, Any]:
    fmt = "table" if kind == "table" else "time_series"
    return {
        "id": i + 1,
        "title": title,
        "type": kind,
        "datasource": DS,
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "targets": [
            {"refId": "A", "datasource": DS, "rawQuery": True, "format": fmt, "rawSql": sql}
        ],
    }


def render(uid: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": f"forewarn-{uid}",
        "title": spec["title"],
        "tags": ["forewarn"],
        "timezone": "utc",
        "schemaVersion": 39,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "30s",
        "templating": {"list": spec["vars"]},
        "panels": [_panel(i, *p) for i, p in enumerate(spec["panels"])],
    }


def write() -> list[Path]:
    out = []
    for uid, spec in DASHBOARDS.items():
        path = HERE / "json" / f"{uid}.json"
        path.write_text(json.dumps(render(uid, spec), indent=2) + "\n")
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write():
        print(f"wrote {p}")
