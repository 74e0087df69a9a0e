"""An asset's health index as the detectors record it (table asset_health, migration 0066).

The detectors write one row per asset with each checkpoint: the index (1 healthy .. 0, the
alarm opens near 0.5), its trend per day and the hours until the alarm bar, or NULLs while
there is no reference. Read here with SQL of our own: the services share the database, not
each other's code. The history is the window before the asset's latest row (data time, so a
stopped or replayed asset still shows its last day), bucketed to at most ``points`` points;
each point is the bucket's last row, with the bucket's lowest index beside it.
"""

from __future__ import annotations

from typing import Any

from ticketing.cmms import assets as A
from ticketing.store import Row, Tx

LATEST_SQL = """select ts, site, health, slope_per_day, time_to_threshold_h, alarm, state, ref_to
  from asset_health where asset = %s order by ts desc limit 1"""
HISTORY_SQL = """select time_bucket(make_interval(secs => %(step)s), ts) as ts,
       last(health, ts) as health, min(health) as health_min,
       last(slope_per_day, ts) as slope_per_day,
       last(time_to_threshold_h, ts) as time_to_threshold_h,
       bool_or(alarm) as alarm, last(state, ts) as state
  from asset_health
 where asset = %(asset)s and ts > %(end)s - make_interval(secs => %(span)s) and ts <= %(end)s
 group by 1 order by 1"""


def health(tx: Tx, asset: str, hours: float, points: int) -> dict[str, Any]:
    """Latest index and a bucketed history of ``hours`` before it; NotFound for an asset the
    register does not hold."""
    A.get(tx, asset)
    latest: Row | None = tx.one(LATEST_SQL, (asset,))
    history: list[Row] = []
    if latest is not None:
        span = hours * 3600.0
        history = tx.all(
            HISTORY_SQL,
            {"asset": asset, "end": latest["ts"], "span": span, "step": span / points},
        )
    return {"asset": asset, "hours": hours, "latest": latest, "history": history}
