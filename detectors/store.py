"""Database side of the detectors: anomaly events, checkpoints, feedback (migration 0030)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from detectors.asset import AssetDetector, StateError
from forewarn.contract import AnomalyEvent

Conn = psycopg.Connection[Any]


def store_event(conn: Conn, ev: AnomalyEvent) -> bool:
    """Insert one event; False when it was already stored (same id and time)."""
    cur = conn.execute(
        """insert into anomalies (time, event_id, site, asset, asset_class, detector,
               detector_version, config_hash, score, severity, fault_mode, state, historical,
               time_to_limit_h, payload)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           on conflict do nothing""",
        (
            ev.ts,
            ev.event_id,
            ev.site,
            ev.asset,
            ev.asset_class,
            ev.detector.name,
            ev.detector.version,
            ev.detector.config_hash,
            ev.score,
            ev.severity,
            ev.fault_mode,
            ev.state,
            ev.historical,
            ev.time_to_limit_h,
            Jsonb(ev.model_dump(mode="json", exclude_none=True)),
        ),
    )
    return cur.rowcount == 1


def save_checkpoints(conn: Conn, detectors: Iterable[AssetDetector], worker: str) -> int:
    """Upsert the state of each detector; returns how many were written."""
    rows = []
    for det in detectors:
        last = det.pre.last_ts
        rows.append(
            (
                det.asset,
                det.asset_class,
                det.info.version,
                det.info.config_hash,
                det.samples,
                None if last is None else datetime.fromtimestamp(last, UTC),
                det.dumps(),
                worker,
            )
        )
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            """insert into detector_checkpoints (asset, asset_class, detector_version,
                   config_hash, samples, last_ts, state, worker, saved_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s, now())
               on conflict (asset) do update set asset_class = excluded.asset_class,
                   detector_version = excluded.detector_version,
                   config_hash = excluded.config_hash, samples = excluded.samples,
                   last_ts = excluded.last_ts, state = excluded.state,
                   worker = excluded.worker, saved_at = now()""",
            rows,
        )
    return len(rows)


def load_checkpoint(conn: Conn, asset: str, config_hash: str) -> AssetDetector | None:
    """The stored detector of ``asset`` if it was made with the same configuration."""
    row = conn.execute(
        "select state, config_hash from detector_checkpoints where asset = %s", (asset,)
    ).fetchone()
    if row is None or row[1] != config_hash:
        return None  # a new configuration starts a new model (and says so in the log)
    try:
        return AssetDetector.loads(bytes(row[0]))
    except StateError:
        return None


def pending_feedback(conn: Conn, assets: Iterable[str]) -> list[tuple[int, str, str]]:
    """Resolutions from ticketing (table detector_feedback) not yet applied, oldest first."""
    names = list(assets)
    if not names:
        return []
    rows = conn.execute(
        """select f.ticket_id, f.asset, f.resolution_code from detector_feedback f
           where f.asset = any(%s) and f.resolution_code in ('confirmed', 'fixed', 'no_fault_found')
             and not exists (select 1 from detector_feedback_applied a
                             where a.ticket_id = f.ticket_id)
           order by f.resolved_at, f.ticket_id""",
        (names,),
    ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def mark_applied(
    conn: Conn, ticket_id: int, asset: str, code: str, on_threshold: float, worker: str
) -> None:
    conn.execute(
        """insert into detector_feedback_applied
               (ticket_id, asset, resolution_code, on_threshold_after, worker)
           values (%s, %s, %s, %s, %s) on conflict (ticket_id) do nothing""",
        (ticket_id, asset, code, on_threshold, worker),
    )
