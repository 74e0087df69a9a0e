"""Meters per asset: running hours and starts derived from the stored ``running`` metric,
plus manual readings of any named counter.

Derivation is incremental: a watermark per asset remembers the last telemetry row read (and
whether the asset was running then), so each pass reads only newer rows. The watermark and
the meters it fed move in one transaction, so a crash or restart neither loses nor counts
anything twice. Time between two samples counts as running when the earlier one says
running and the gap is at most ``MAX_GAP`` (a silent asset is not assumed to run).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from ticketing.cmms import assets
from ticketing.errors import Conflict
from ticketing.store import SYSTEM, Actor, Row, Store, Tx

RUNNING = "running"
MAX_GAP = timedelta(minutes=5)
BATCH = 50_000
DERIVED = ("running_hours", "starts")
METER_LOCK = 7_050_001  # advisory lock class for meter derivation (key: the asset's hash)


def current(tx: Tx, asset: str) -> dict[str, float]:
    return {
        r["meter"]: r["value"]
        for r in tx.all("select meter, value from asset_meters where asset = %s", (asset,))
    }


def listing(tx: Tx, asset: str) -> list[Row]:
    assets.get(tx, asset)
    return tx.all(
        "select meter, value, updated_at from asset_meters where asset = %s order by meter",
        (asset,),
    )


def _bump(tx: Tx, asset: str, meter: str, delta: float, at: datetime) -> float:
    row = tx.one(
        "insert into asset_meters (asset, meter, value, updated_at) values (%s, %s, %s, %s)"
        " on conflict (asset, meter) do update set value = asset_meters.value + excluded.value,"
        " updated_at = greatest(asset_meters.updated_at, excluded.updated_at) returning value",
        (asset, meter, delta, at),
    )
    assert row is not None
    return float(row["value"])


def derive_asset(tx: Tx, asset: str) -> dict[str, float] | None:
    """Fold the new ``running`` rows of one asset into its meters; None if nothing new."""
    # One deriver per asset at a time, even before its watermark row exists (two workers
    # on a first pass would otherwise both count the same rows).
    tx.conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (METER_LOCK, asset))
    mark = tx.one(
        "select last_time, last_running from meter_watermarks where asset = %s for update",
        (asset,),
    )
    rows = tx.all(
        "select time, value from telemetry where asset = %s and metric = %s"
        " and (%s::timestamptz is null or time > %s) order by time limit %s",
        (
            asset,
            RUNNING,
            mark and mark["last_time"],
            mark and mark["last_time"],
            BATCH,
        ),
    )
    if not rows:
        return None
    prev_t: datetime | None = mark["last_time"] if mark else None
    prev_run: bool | None = mark["last_running"] if mark else None
    hours = 0.0
    starts = 0
    for r in rows:
        run = r["value"] >= 0.5
        if prev_t is not None and prev_run and r["time"] - prev_t <= MAX_GAP:
            hours += (r["time"] - prev_t).total_seconds() / 3600
        if run and prev_run is False:
            starts += 1
        prev_t, prev_run = r["time"], run
    last = rows[-1]
    tx.conn.execute(
        "insert into meter_watermarks (asset, last_time, last_running) values (%s, %s, %s)"
        " on conflict (asset) do update set last_time = excluded.last_time,"
        " last_running = excluded.last_running",
        (asset, last["time"], last["value"] >= 0.5),
    )
    out = {
        "running_hours": _bump(tx, asset, "running_hours", hours, last["time"]),
        "starts": _bump(tx, asset, "starts", starts, last["time"]),
    }
    if hours or starts:
        tx.conn.execute(
            "insert into meter_readings (asset, meter, value, at, source, recorded_by)"
            " values (%s, 'running_hours', %s, %s, 'telemetry', 'meters'),"
            " (%s, 'starts', %s, %s, 'telemetry', 'meters')",
            (asset, out["running_hours"], last["time"], asset, out["starts"], last["time"]),
        )
        tx.audit(
            SYSTEM,
            "meters_derived",
            "asset",
            asset,
            None,
            {"running_hours": hours, "starts": starts, "through": last["time"], **out},
        )
    return out


def derive_all(store: Store) -> dict[str, dict[str, float]]:
    """One pass over every registered asset (each in its own short transaction)."""
    names = store.read(lambda tx: [r["asset"] for r in tx.all("select asset from assets")])
    done: dict[str, dict[str, float]] = {}
    for name in names:
        while True:
            got = store.run(functools.partial(derive_asset, asset=name))
            if got is None:
                break
            done[name] = got
    return done


def record(tx: Tx, actor: Actor, asset: str, meter: str, value: float, at: Any) -> Row:
    """A manual reading sets the meter; it may not go backwards."""
    assets.get(tx, asset)
    row = tx.one(
        "select value from asset_meters where asset = %s and meter = %s for update",
        (asset, meter),
    )
    if row is not None and value < row["value"]:
        raise Conflict(
            f"value: meter {meter!r} of {asset} reads {row['value']:g}; a reading of"
            f" {value:g} would go backwards",
            field="value",
            current=row["value"],
        )
    when = at or tx.now
    tx.conn.execute(
        "insert into asset_meters (asset, meter, value, updated_at) values (%s, %s, %s, %s)"
        " on conflict (asset, meter) do update set value = excluded.value,"
        " updated_at = excluded.updated_at",
        (asset, meter, value, when),
    )
    tx.conn.execute(
        "insert into meter_readings (asset, meter, value, at, source, recorded_by)"
        " values (%s, %s, %s, %s, 'manual', %s)",
        (asset, meter, value, when, actor.name),
    )
    tx.audit(
        actor,
        "meter_reading",
        "asset",
        asset,
        {"meter": meter, "value": row["value"] if row else None},
        {"meter": meter, "value": value, "at": when},
    )
    return {"meter": meter, "value": value, "updated_at": when}
