"""Reads for the detectors' catch-up on start: stored samples newer than a checkpoint.

The telemetry hypertable is narrow (``time, asset, metric, value``); one sample is the set
of metrics of one asset at one time, rebuilt here in time order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]


def stale_assets(conn: Conn, site: str) -> list[tuple[str, str, str | None, datetime]]:
    """Checkpointed assets with stored telemetry after the checkpoint's last sample time:
    ``(asset, site, asset_class, last_ts)``; ``site`` '+' means every site."""
    rows = conn.execute(
        """select c.asset, coalesce(a.site, 'default'), c.asset_class, c.last_ts
           from detector_checkpoints c left join assets a on a.asset = c.asset
           where c.last_ts is not null and (%s = '+' or a.site = %s)
             and exists (select 1 from telemetry t where t.asset = c.asset and t.time > c.last_ts)
           order by c.asset""",
        (site, site),
    ).fetchall()
    return [(str(r[0]), str(r[1]), r[2], r[3]) for r in rows]


def samples_after(
    conn: Conn, asset: str, since: datetime, limit: int
) -> list[tuple[datetime, dict[str, float]]]:
    """Up to ``limit`` samples of ``asset`` after ``since``, oldest first."""
    rows = conn.execute(
        """select time, jsonb_object_agg(metric, value) from telemetry
           where asset = %s and time > %s group by time order by time limit %s""",
        (asset, since, limit),
    ).fetchall()
    return [(r[0], {str(k): float(v) for k, v in r[1].items()}) for r in rows]
