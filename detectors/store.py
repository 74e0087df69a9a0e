"""Database side of the detectors: anomaly events, checkpoints, feedback (migration 0030),
each asset's health index over time (0066)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from detectors.asset import AssetDetector, StateError
from detectors.configuration import HealthConfig
from forewarn.contract import AnomalyEvent, DetectorFeedback

Conn = psycopg.Connection[Any]
log = logging.getLogger("forewarn.detectors")


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
    """Upsert the state of each detector (and record its reference changes)."""
    detectors = list(detectors)
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
        log_rows = [
            (
                d.asset,
                e["reason"],
                e["actor"],
                _ts(e["ref_from"]),
                _ts(e["ref_to"]),
                e["rows"],
                e["metrics"],
                _ts(e["changed_at"]),
                worker,
            )
            for d in detectors
            for e in getattr(d, "baseline_log", [])
        ]
        if log_rows:  # the reference changes ride with the checkpoint that holds them
            cur.executemany(
                """insert into detector_baselines (asset, state, reason, actor, ref_from,
                       ref_to, rows, metrics, changed_at, worker, applied_at)
                   values (%s, 'applied', %s, %s, %s, %s, %s, %s, %s, %s, now())
                   on conflict do nothing""",
                log_rows,
            )
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
        health = [r for r in map(_health_row, detectors) if r is not None]
        if health:  # the health index rides with the checkpoint, stamped with its last sample
            cur.executemany(
                """insert into asset_health (asset, ts, site, health, slope_per_day,
                       time_to_threshold_h, alarm, state, ref_to, worker)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   on conflict do nothing""",
                [(*r, worker) for r in health],
            )
    for d in detectors:
        d.baseline_log.clear()  # written in the same transaction as the checkpoint
    return len(rows)


def health_state(det: AssetDetector) -> str:
    """What the detector is doing: warmup, relearn, stopped or running."""
    if det.relearn is not None:
        return "relearn"
    if not det.health.frozen:
        return "warmup"
    return "stopped" if det.health.stopped else "running"


def _health_row(det: AssetDetector) -> tuple[Any, ...] | None:
    last = det.pre.last_ts
    if last is None:
        return None  # nothing scored yet: no time to stamp it with
    o = det.outlook_now()
    ref = det.health.ref
    return (
        det.asset,
        datetime.fromtimestamp(last, UTC),
        det.site,
        o.health,
        o.slope_per_day,
        o.time_to_threshold_h,
        det.alarm.active,
        health_state(det),
        _ts(ref.t_to if ref is not None else None),
    )


def _ts(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


def request_baseline(
    conn: Conn, asset: str, since: datetime, until: datetime, why: str, who: str
) -> int:
    """Ask the worker that owns ``asset`` to re-learn its reference from a stored window."""
    row = conn.execute(
        """insert into detector_baselines (asset, state, reason, actor, ref_from, ref_to)
           values (%s, 'requested', %s, %s, %s, %s) returning id""",
        (asset, why, who, since, until),
    ).fetchone()
    assert row is not None
    return int(row[0])


def apply_baseline_requests(conn: Conn, detectors: dict[str, AssetDetector], worker: str) -> int:
    """Apply pending ``detectors baseline`` requests for the assets this worker holds."""
    from detectors.replay import ReplayError, read_db

    reqs = conn.execute(
        """select id, asset, ref_from, ref_to, reason, actor from detector_baselines
           where state = 'requested' and asset = any(%s) order by id""",
        (list(detectors),),
    ).fetchall()
    for rid, asset, since, until, why, who in reqs:
        det = detectors[asset]
        detail, ok, n = None, False, 0
        try:
            frame, _ = read_db(conn, asset, since=since.isoformat(), until=until.isoformat())
            rows = [
                (t, {c: v for c, v in zip(frame.columns, vals, strict=True) if v == v})
                for t, vals in zip(frame.times.tolist(), frame.values.tolist(), strict=True)
            ]
            n = len(rows)
            ok = n >= 10 and det.rebaseline(rows, why, who)
            if not ok:
                detail = f"{n} rows in the window: too few or nothing varies"
        except ReplayError as exc:
            detail = exc.reason
        if ok:
            det.baseline_log.clear()  # this row is the record of the change
        conn.execute(
            """update detector_baselines set state = %s, rows = %s, detail = %s, worker = %s,
                   applied_at = now(), changed_at = now(), metrics = %s where id = %s""",
            (
                "applied" if ok else "failed",
                n,
                detail,
                worker,
                list(det.health.ref.names) if ok and det.health.ref else None,
                rid,
            ),
        )
    return len(reqs)


def load_checkpoint(
    conn: Conn, asset: str, config_hash: str, health: HealthConfig | None = None
) -> AssetDetector | None:
    """The stored detector of ``asset`` if it was made with the same configuration.

    Otherwise (an upgrade, a changed configuration) the model starts anew, and with
    ``health`` given its reference is re-learned from the previous reference's stored window
    (:func:`carry_reference`) instead of a new day of commissioning."""
    row = conn.execute(
        "select state, config_hash from detector_checkpoints where asset = %s", (asset,)
    ).fetchone()
    if row is None:
        return None
    why = "checkpoint made with another configuration"
    if row[1] == config_hash:
        try:
            return AssetDetector.loads(bytes(row[0]))
        except StateError as exc:
            why = exc.reason
    window = None if health is None else carry_reference(conn, asset, health)
    if window is None:
        log.info("asset %s: %s; rebuilding the model from a new warm-up", asset, why)
    else:
        log.info("asset %s: %s; re-learning its reference from %s..%s", asset, why, *window)
    return None


_UPGRADE = "upgrade: the previous reference's window re-learned ("


def carry_reference(
    conn: Conn, asset: str, health: HealthConfig
) -> tuple[datetime, datetime] | None:
    """File a re-learn of the window the previous model's reference was learned on.

    A new detector version or configuration cannot resume the old model, but the healthy
    window it learned from is still in the telemetry: re-learning it with the new code keeps
    the asset's reference instead of spending a day commissioning (and judging against a
    provisional reference) after every upgrade. Not when the old model was still
    commissioning (a new commissioning is as good) or a re-learn is already pending."""
    row = conn.execute(
        """select reason, rows, ref_from, ref_to from detector_baselines
           where asset = %s and state = 'applied' and ref_from is not null
             and ref_to is not null
           order by changed_at desc nulls last, id desc limit 1""",
        (asset,),
    ).fetchone()
    if row is None:
        return None
    reason, rows, since, until = row
    span_h = (until - since).total_seconds() / 3600
    if str(reason).startswith("commissioning") and not (
        (rows or 0) >= health.commission_rows or span_h >= health.commission_h
    ):
        return None
    pending = conn.execute(
        "select 1 from detector_baselines where asset = %s and state = 'requested'", (asset,)
    ).fetchone()
    if pending is not None:
        return None
    origin = str(reason)
    if origin.startswith(_UPGRADE):  # what it was first learned as, not nested per upgrade
        origin = origin.removeprefix(_UPGRADE).removesuffix(")")
    why = f"{_UPGRADE}{origin})"
    until += timedelta(microseconds=1)  # a window is half-open; the reference's last row is in
    request_baseline(conn, asset, since, until, why, "detectors")
    return since, until


FEEDBACK_COLUMNS = (  # as pending_feedback selects them
    "ticket_id",
    "site",
    "asset",
    "fault_mode",
    "resolution_code",
    "confirmed_fault_mode",
    "event_ids",
    "opened_at",
    "resolved_at",
)


def pending_feedback(conn: Conn, assets: Iterable[str]) -> list[DetectorFeedback]:
    """Resolutions from ticketing (table detector_feedback) not yet applied, oldest first.

    The table is the only way feedback travels (forewarn.contract.tickets says why); rows
    come back as the contract's model, so both ends read the same record.
    """
    names = list(assets)
    if not names:
        return []
    rows = conn.execute(
        """select f.ticket_id, f.site, f.asset, f.fault_mode, f.resolution_code,
                  f.confirmed_fault_mode, f.event_ids, f.opened_at, f.resolved_at
           from detector_feedback f
           where f.asset = any(%s) and f.resolution_code in ('confirmed', 'fixed', 'no_fault_found')
             and not exists (select 1 from detector_feedback_applied a
                             where a.ticket_id = f.ticket_id)
           order by f.resolved_at, f.ticket_id""",
        (names,),
    ).fetchall()
    out = []
    for r in rows:
        try:
            out.append(DetectorFeedback.model_validate(dict(zip(FEEDBACK_COLUMNS, r, strict=True))))
        except ValidationError as exc:  # written around the contract: skip it, do not die
            log.warning("detector_feedback of ticket %s skipped: %s", r[0], exc.errors()[0]["msg"])
    return out


def mark_applied(
    conn: Conn, ticket_id: int, asset: str, code: str, on_threshold: float, worker: str
) -> None:
    conn.execute(
        """insert into detector_feedback_applied
               (ticket_id, asset, resolution_code, on_threshold_after, worker)
           values (%s, %s, %s, %s, %s) on conflict (ticket_id) do nothing""",
        (ticket_id, asset, code, on_threshold, worker),
    )
