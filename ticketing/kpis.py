"""KPIs over tickets, grouped by site, asset class or engineer (or not at all)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ticketing.store import Tx

GroupBy = Literal["none", "site", "asset_class", "engineer"]
GROUP_SQL = {
    "none": "null::text",
    "site": "t.site",
    "asset_class": "coalesce(a.asset_class, 'unknown')",
    "engineer": "coalesce(t.engineer_id::text, 'unassigned')",
}

# A "fault" for the last KPI: a predictive ticket confirmed or reported later by a customer
# (we were first), or a customer ticket (we were not).
KPI_SQL = """
select {group} as "group",
  count(*)::int as tickets,
  extract(epoch from avg(t.acknowledged_at - t.created_at)) / 3600 as time_to_acknowledge_h,
  extract(epoch from avg(t.resolved_at - t.created_at)) / 3600 as time_to_repair_h,
  avg(case when t.response_breached_at is null and t.resolution_breached_at is null
      then 1.0 else 0.0 end) filter (where t.resolved_at is not null
      or t.response_breached_at is not null or t.resolution_breached_at is not null)
      as sla_compliance,
  avg(case when t.first_time_fix then 1.0 else 0.0 end)
      filter (where t.resolved_at is not null and t.resolution_code <> 'no_fault_found')
      as first_time_fix,
  extract(epoch from avg(coalesce(t.failure_at, t.customer_reported_at) - t.created_at)
      filter (where t.source = 'predictive')) / 3600 as predictive_lead_time_h,
  (count(*) filter (where t.source = 'predictive' and (t.customer_reported_at is not null
      or t.resolution_code = 'confirmed')))::float
    / nullif(count(*) filter (where (t.source = 'predictive' and (t.customer_reported_at
      is not null or t.resolution_code = 'confirmed')) or t.source = 'customer'), 0)
    as ticketed_before_customer
from tickets t left join assets a on a.asset = t.asset
where t.state <> 'cancelled' and (%(sites)s::text[] is null or t.site = any(%(sites)s))
  and (%(start)s::timestamptz is null or t.created_at >= %(start)s)
  and (%(end)s::timestamptz is null or t.created_at < %(end)s)
group by 1 order by 1 nulls first
"""


def kpis(
    tx: Tx,
    group_by: str,
    sites: tuple[str, ...] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """KPIs of the tickets opened in [start, end) (all when not given); ``sites`` limits the
    tickets counted (a site-scoped token's view), None: all."""
    scope = list(sites) if sites is not None else None
    rows = tx.all(
        KPI_SQL.format(group=GROUP_SQL[group_by]), {"sites": scope, "start": start, "end": end}
    )
    for r in rows:
        for k, v in r.items():
            if k not in ("group", "tickets") and v is not None:
                r[k] = round(float(v), 4)
    return rows
