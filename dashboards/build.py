"""Generate the Grafana dashboards in ``json/`` from the compact panel list below.

Run ``python dashboards/build.py`` after editing; a test fails when ``json/`` is stale and
runs every panel's SQL against a seeded database (Grafana cannot run on the CI machine).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ticketing.lifecycle import OPEN, T_OPEN  # the one spelling of "open ticket"

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
                "Asset health: last anomaly and open tickets",
                "table",
                "SELECT a.asset, a.site, a.asset_class, an.time AS last_anomaly, an.score,"
                " an.fault_mode, (SELECT count(*) FROM tickets t WHERE t.asset = a.asset"
                f" AND {T_OPEN}) AS open_tickets"
                " FROM assets a LEFT JOIN LATERAL (SELECT time, score, fault_mode FROM anomalies"
                " WHERE asset = a.asset ORDER BY time DESC LIMIT 1) an ON true"
                " ORDER BY an.score DESC NULLS LAST, a.asset LIMIT 200",
            ),
            (
                "Health outlook: nearest to the alarm bar first",
                "table",
                "SELECT * FROM (SELECT DISTINCT ON (asset) asset, site, ts AS as_of, health,"
                " slope_per_day, time_to_threshold_h, alarm, state FROM asset_health"
                " WHERE ts > $__timeTo()::timestamptz - interval '1 day' ORDER BY asset, ts DESC) h"
                " ORDER BY time_to_threshold_h NULLS LAST, health NULLS LAST, asset LIMIT 200",
            ),
            (
                "Anomalies per hour by severity",
                "timeseries",
                "SELECT time_bucket('1 hour', time) AS time, severity, count(*) AS events"
                " FROM anomalies WHERE $__timeFilter(time) AND state = 'open'"
                " GROUP BY 1, 2 ORDER BY 1",
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
                "Signals (raw, for short ranges)",
                "timeseries",
                "SELECT $__timeGroupAlias(time, $__interval), metric, avg(value) AS value"
                " FROM telemetry WHERE asset = '$asset' AND $__timeFilter(time)"
                " GROUP BY 1, 2 ORDER BY 1",
            ),
            (
                "Signals, hourly rollup (for weeks and months)",
                "timeseries",
                "SELECT bucket AS time, metric, avg FROM telemetry_hourly"
                " WHERE asset = '$asset' AND $__timeFilter(bucket) ORDER BY 1",
            ),
            (
                "Detector score and alarms",
                "timeseries",
                "SELECT time, score, CASE WHEN state = 'open' THEN 1 ELSE 0 END AS alarm"
                " FROM anomalies WHERE asset = '$asset' AND $__timeFilter(time) ORDER BY 1",
            ),
            (
                "Health index (1 healthy, the alarm near 0.5) and hours to the alarm bar",
                "timeseries",
                "SELECT $__timeGroupAlias(ts, $__interval), min(health) AS health,"
                " min(time_to_threshold_h) AS hours_to_bar FROM asset_health"
                " WHERE asset = '$asset' AND $__timeFilter(ts) GROUP BY 1 ORDER BY 1",
            ),
            (
                "Tickets on this asset",
                "table",
                "SELECT id, created_at, priority, state, fault_mode, source, resolution_code"
                " FROM tickets WHERE asset = '$asset' ORDER BY created_at DESC LIMIT 50",
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
                "Workers: rate, lag, retries",
                "table",
                "SELECT worker, updated_at, messages, samples, rows_written, rows_duplicate,"
                " dead_letters, batch_ms_p50, lag_s, pending, db_retries FROM ingest_metrics"
                " ORDER BY worker",
            ),
            (
                "Latest dead letters",
                "table",
                "SELECT received_at, service, topic, reason, left(encode(payload, 'escape'), 200)"
                " AS payload FROM dead_letters ORDER BY id DESC LIMIT 50",
            ),
        ],
    },
    "tickets-sla": {
        "title": "Tickets and SLA",
        "vars": [],
        "panels": [
            (
                "Open tickets by state and priority",
                "table",
                "SELECT state, priority, count(*) AS tickets FROM tickets"
                f" WHERE {OPEN}"
                " GROUP BY 1, 2 ORDER BY 2, 1",
            ),
            (
                "Tickets opened per day by source",
                "timeseries",
                "SELECT time_bucket('1 day', created_at) AS time, source, count(*) AS tickets"
                " FROM tickets WHERE $__timeFilter(created_at) GROUP BY 1, 2 ORDER BY 1",
            ),
            (
                "SLA breaches per day",
                "timeseries",
                "SELECT time_bucket('1 day', created_at) AS time,"
                " count(*) FILTER (WHERE response_breached_at IS NOT NULL) AS response,"
                " count(*) FILTER (WHERE resolution_breached_at IS NOT NULL) AS resolution"
                " FROM tickets WHERE $__timeFilter(created_at) GROUP BY 1 ORDER BY 1",
            ),
            (
                "KPIs",
                "table",
                "SELECT count(*) AS tickets,"
                " round((avg(extract(epoch FROM acknowledged_at - created_at)) / 3600)::numeric, 2)"
                " AS hours_to_acknowledge,"
                " round((avg(extract(epoch FROM resolved_at - created_at)) / 3600)::numeric, 2)"
                " AS hours_to_repair,"
                " round(avg(CASE WHEN response_breached_at IS NULL AND resolution_breached_at IS NULL"
                " THEN 1.0 ELSE 0.0 END), 3) AS sla_compliance,"
                " round(avg(CASE WHEN source = 'predictive' THEN 1.0 ELSE 0.0 END), 3)"
                " AS predictive_share"
                " FROM tickets WHERE $__timeFilter(created_at)",
            ),
        ],
    },
}


# The services' own metrics, scraped by Prometheus (dashboards/prometheus.yml): one
# "services" board. Panel = (title, visualisation, PromQL expressions).
PROM = {"type": "prometheus", "uid": "forewarn-prom"}
PromPanel = tuple[str, str, list[str]]
SERVICES: dict[str, Any] = {
    "title": "Services",
    "panels": [
        ("Services up", "timeseries", ['up{job=~"forewarn-.*"}']),
        (
            "Ingest messages per second",
            "timeseries",
            ["sum by (worker) (rate(forewarn_ingest_messages_total[5m]))"],
        ),
        (
            "Ingest dead letters by reason",
            "timeseries",
            ["sum by (reason) (rate(forewarn_ingest_dead_letter_reasons_total[5m]))"],
        ),
        (
            "Ingest batch size (messages, p50 and p95)",
            "timeseries",
            [
                "histogram_quantile(0.5, sum by (le) (rate(forewarn_ingest_batch_messages_bucket[5m])))",
                "histogram_quantile(0.95, sum by (le) (rate(forewarn_ingest_batch_messages_bucket[5m])))",
            ],
        ),
        (
            "Ingest lag (s) and inbox depth",
            "timeseries",
            ["max by (worker) (forewarn_ingest_lag_s)", "sum(forewarn_ingest_inbox_depth)"],
        ),
        (
            "Detector samples scored per second",
            "timeseries",
            ["sum by (worker) (rate(forewarn_detectors_samples_total[5m]))"],
        ),
        (
            "Detector lag: seconds behind the newest sample, and inbox depth",
            "timeseries",
            [
                "time() - max by (worker) (forewarn_detectors_last_scored_timestamp_seconds > 0)",
                "sum by (worker) (forewarn_detectors_inbox_depth)",
            ],
        ),
        (
            "Anomaly events per hour",
            "timeseries",
            ["sum(increase(forewarn_detectors_events_total[1h]))"],
        ),
        (
            "Open tickets and running SLA timers",
            "timeseries",
            [
                "sum by (priority) (forewarn_ticketing_tickets_open)",
                "sum by (kind) (forewarn_ticketing_sla_timers_running)",
            ],
        ),
        (
            "SLA breaches (open tickets, and per hour)",
            "timeseries",
            [
                "sum by (priority) (forewarn_ticketing_sla_breached_open)",
                "sum by (kind) (increase(forewarn_ticketing_sla_breaches_total[1h]))",
            ],
        ),
        (
            "Webhook deliveries by outcome",
            "timeseries",
            ["sum by (status) (forewarn_ticketing_webhook_deliveries)"],
        ),
        (
            "Gateway devices by state",
            "timeseries",
            ["sum by (gateway, state) (forewarn_gateway_device_state)"],
        ),
        (
            "Gateway poll time (mean, s) and buffer",
            "timeseries",
            [
                "rate(forewarn_gateway_poll_seconds_sum[5m])"
                " / rate(forewarn_gateway_poll_seconds_count[5m])",
                "sum by (gateway) (forewarn_gateway_buffer_samples)",
            ],
        ),
        (
            "Devices not online",
            "table",
            ['forewarn_gateway_device_state{state!="online"} == 1'],
        ),
    ],
}


def _prom_panel(i: int, title: str, kind: str, exprs: list[str]) -> dict[str, Any]:
    return {
        "id": i + 1,
        "title": title,
        "type": kind,
        "datasource": PROM,
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "targets": [
            {"refId": chr(ord("A") + j), "datasource": PROM, "expr": e, "instant": kind == "table"}
            for j, e in enumerate(exprs)
        ],
    }


def render_services() -> dict[str, Any]:
    return {
        "uid": "forewarn-services",
        "title": SERVICES["title"],
        "tags": ["forewarn"],
        "timezone": "utc",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": []},
        "panels": [_prom_panel(i, *p) for i, p in enumerate(SERVICES["panels"])],
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
    path = HERE / "json" / "services.json"
    path.write_text(json.dumps(render_services(), indent=2) + "\n")
    out.append(path)
    return out


if __name__ == "__main__":
    for p in write():
        print(f"wrote {p}")
