"""Read models the API has no route for: fleet health, sparklines, the evidence window,
the map and board counts. Ticket reads and writes go through ``ticketing.tickets``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ticketing.lifecycle import T_OPEN
from ticketing.store import Row, Tx

FLEET_LIMIT = 200
SPARK_POINTS = 48
EVIDENCE_BEFORE = timedelta(hours=2)
EVIDENCE_AFTER = timedelta(minutes=30)
EVIDENCE_POINTS = 240
EXTRA_METRICS = 6

FLEET_SQL = f"""
select a.asset, a.site, a.asset_class, a.lat, a.lon, a.last_seen,
  da.time as det_at, da.severity as det_severity, da.score as det_score,
  da.fault_mode as det_fault, da.payload as det_payload,
  ta.ts as tick_at, ta.severity as tick_severity, ta.score as tick_score,
  ta.fault_mode as tick_fault, ta.payload as tick_payload,
  ot.n as open_tickets, ot.top as top_priority
from assets a
left join lateral (select time, severity, score, fault_mode, payload from anomalies
  where asset = a.asset and state = 'open' order by time desc limit 1) da on true
left join lateral (select ts, severity, score, fault_mode, payload from ticket_anomalies
  where asset = a.asset order by ts desc limit 1) ta on true
left join lateral (select count(*)::int as n, min(priority) as top from tickets t
  where t.asset = a.asset and {T_OPEN}) ot on true
where (%(site)s::text is null or a.site = %(site)s)
  and (%(scope)s::text[] is null or a.site = any(%(scope)s))
order by a.site, a.asset limit %(limit)s
"""


def _top_contributor(payload: Any) -> str | None:
    if isinstance(payload, str):
        payload = json.loads(payload)
    contributors = (payload or {}).get("contributors") or []
    if not contributors:
        return None
    return str(max(contributors, key=lambda c: c.get("weight", 0))["metric"])


def health(row: Row, now: datetime) -> str:
    """critical: an open P0/P1 ticket or a critical finding in 24 h; warning: any open
    ticket or finding in 24 h; ok otherwise; unknown when the asset never reported."""
    recent = row["anomaly_at"] is not None and now - row["anomaly_at"] < timedelta(hours=24)
    if row["top_priority"] in ("P0", "P1") or (recent and row["anomaly_severity"] == "critical"):
        return "critical"
    if row["open_tickets"] or recent:
        return "warning"
    if row["last_seen"] is None and row["anomaly_at"] is None:
        return "unknown"
    return "ok"


def fleet(
    tx: Tx,
    site: str | None = None,
    limit: int = FLEET_LIMIT,
    *,
    sparklines: bool = True,
    scope: tuple[str, ...] | None = None,
) -> list[Row]:
    """Assets with their last anomaly (detectors' table or ticket intake, the later one),
    open tickets, health and a sparkline of the metric that mattered last. ``scope``: a
    site-scoped token's sites (None: all)."""
    params = {"site": site, "limit": limit, "scope": list(scope) if scope is not None else None}
    rows = tx.all(FLEET_SQL, params)
    out = []
    for r in rows:
        use_det = r["det_at"] is not None and (r["tick_at"] is None or r["det_at"] >= r["tick_at"])
        pre = "det" if use_det else "tick"
        item = {
            k: r[k]
            for k in ("asset", "site", "asset_class", "lat", "lon", "last_seen", "open_tickets")
        }
        item["top_priority"] = r["top_priority"]
        item["anomaly_at"] = r[f"{pre}_at"]
        item["anomaly_severity"] = r[f"{pre}_severity"]
        item["anomaly_score"] = r[f"{pre}_score"]
        item["anomaly_fault"] = r[f"{pre}_fault"]
        item["metric"] = _top_contributor(r[f"{pre}_payload"])
        item["health"] = health(item, tx.now)
        out.append(item)
    if sparklines:
        _sparklines(tx, out)
    return out


ROLLUP_SPARK_SQL = """
select h.asset, h.bucket as t, h.avg as v
from unnest(%(assets)s::text[], %(metrics)s::text[], %(ends)s::timestamptz[]) as p(asset, metric, e)
join telemetry_hourly h on h.asset = p.asset and h.metric = p.metric
  and h.bucket > p.e - interval '24 hours' and h.bucket <= p.e
order by 1, 2
"""
SPARK_SQL = """
select p.asset, s.t, s.v
from unnest(%(assets)s::text[], %(metrics)s::text[], %(ends)s::timestamptz[]) as p(asset, metric, e)
cross join lateral (
  select time_bucket(%(step)s, t.time) as t, avg(t.value) as v from telemetry t
  where t.asset = p.asset and t.metric = p.metric
    and t.time > p.e - interval '24 hours' and t.time <= p.e
  group by 1) s
order by 1, 2
"""


def _sparklines(tx: Tx, assets: list[Row]) -> None:
    """24 h up to the asset's last sample: from the hourly rollups when ingest keeps them,
    else raw telemetry in 30-minute buckets. The metric is the last anomaly's top
    contributor, else any metric seen in the asset's last hour (an index probe)."""
    picked: list[tuple[str, str, datetime]] = []
    for a in assets:
        a["spark"] = []
        end = a["last_seen"] or tx.now
        metric = a["metric"]
        if metric is None:
            row = tx.one(
                "select metric from telemetry where asset = %s and time > %s and time <= %s"
                " limit 1",
                (a["asset"], end - timedelta(hours=1), end),
            )
            metric = row["metric"] if row else None
        a["metric"] = metric
        if metric is not None:
            picked.append((a["asset"], metric, end))
    if not picked:
        return
    by_asset = {a["asset"]: a for a in assets}

    def fill(sql: str, chosen: list[tuple[str, str, datetime]], step: timedelta) -> None:
        params = {
            "step": step,
            "assets": [p[0] for p in chosen],
            "metrics": [p[1] for p in chosen],
            "ends": [p[2] for p in chosen],
        }
        for r in tx.all(sql, params):
            by_asset[r["asset"]]["spark"].append((r["t"], r["v"]))

    # Hourly rollups (kept by ingest) first: 24 rows per asset instead of a day of samples.
    fill(ROLLUP_SPARK_SQL, picked, timedelta(hours=1))
    missing = [p for p in picked if len(by_asset[p[0]]["spark"]) < 2]
    for p in missing:
        by_asset[p[0]]["spark"] = []
    if missing:
        fill(SPARK_SQL, missing, timedelta(hours=24) / SPARK_POINTS)


def contributors(tx: Tx, ticket_id: int) -> dict[str, float]:
    """Metric -> highest weight any of the ticket's anomaly events gave it."""
    out: dict[str, float] = {}
    for r in tx.all(
        "select c->>'metric' as metric, (c->>'weight')::float as weight from ticket_anomalies,"
        " jsonb_array_elements(coalesce(payload->'contributors', '[]'::jsonb)) c"
        " where ticket_id = %s",
        (ticket_id,),
    ):
        out[r["metric"]] = max(out.get(r["metric"], 0.0), r["weight"] or 0.0)
    return out


def evidence_window(tx: Tx, ticket: Row, evidence: list[Row]) -> dict[str, Any]:
    """The sensor window around the ticket's anomalies, from the telemetry hypertable
    (downsampled with time_bucket), or the window carried in the event when none is stored."""
    weights = contributors(tx, ticket["id"])
    times = [e["ts"] for e in evidence] or [ticket["created_at"]]
    start, end = min(times) - EVIDENCE_BEFORE, max(times) + EVIDENCE_AFTER
    step = max((end - start) / EVIDENCE_POINTS, timedelta(seconds=1))
    rows = tx.all(
        "select metric, time_bucket(%s, time) as t, avg(value) as v from telemetry"
        " where asset = %s and time >= %s and time <= %s group by 1, 2 order by 1, 2",
        (step, ticket["asset"], start, end),
    )
    series: dict[str, list[tuple[datetime, float]]] = {}
    for r in rows:
        series.setdefault(r["metric"], []).append((r["t"], float(r["v"])))
    source = "telemetry"
    if not series:
        source = "event window"
        for r in tx.all(
            "select payload->'window' as w from ticket_anomalies where ticket_id = %s",
            (ticket["id"],),
        ):
            for metric, points in (r["w"] or {}).items():
                for t, v in points:
                    series.setdefault(metric, []).append((datetime.fromisoformat(t), float(v)))
        for pts in series.values():
            pts.sort()
    chosen = sorted(series, key=lambda m: (-weights.get(m, -1.0), m))
    keep = [m for m in chosen if m in weights] + [m for m in chosen if m not in weights][
        :EXTRA_METRICS
    ]
    return {
        "start": start,
        "end": end,
        "marks": times,
        "series": {m: series[m] for m in keep},
        "weights": weights,
        "source": source,
    }


def board_counts(
    tx: Tx, engineer_id: int | None, scope: tuple[str, ...] | None = None
) -> list[Row]:
    return tx.all(
        "select state, priority, count(*)::int as n from tickets"
        " where (%(e)s::bigint is null or engineer_id = %(e)s)"
        " and (%(scope)s::text[] is null or site = any(%(scope)s)) group by 1, 2 order by 1, 2",
        {"e": engineer_id, "scope": list(scope) if scope is not None else None},
    )


def sites(tx: Tx) -> list[Row]:
    return tx.all("select site, name, lat, lon from sites order by site")
