"""One database transaction per batch: rows, dead letters, asset registry, rollup marks.

Rows go in with binary COPY. A replayed message (at-least-once delivery) must change
nothing, so rows either go through a temp staging table and ``INSERT ... ON CONFLICT DO
NOTHING`` ("staging"), or straight into the hypertable with a fall-back to the staging
path when the COPY meets a duplicate ("optimistic", the fast path when replays are rare).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pgerr

from forewarn import db as fdb
from forewarn.errors import ServiceUnavailable
from ingest.config import WriteMode
from ingest.validate import Accepted, Rejected, Row

log = logging.getLogger(__name__)

SERVICE = "ingest"
ROW_TYPES = ["timestamptz", "text", "text", "float8"]
STAGE = "ingest_stage"
COPY_STAGE = f"COPY {STAGE} (time, asset, metric, value) FROM STDIN (FORMAT BINARY)"
COPY_DIRECT = "COPY telemetry (time, asset, metric, value) FROM STDIN (FORMAT BINARY)"
MERGE = f"INSERT INTO telemetry (time, asset, metric, value) SELECT time, asset, metric, value FROM {STAGE} ON CONFLICT DO NOTHING"
COPY_DEAD = "COPY dead_letters (service, topic, payload, reason) FROM STDIN (FORMAT BINARY)"
UPSERT_ASSETS = """
INSERT INTO assets (asset, site, asset_class, gateway, last_seen)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
ON CONFLICT (asset) DO UPDATE SET
    last_seen = greatest(assets.last_seen, excluded.last_seen),
    asset_class = coalesce(assets.asset_class, excluded.asset_class),
    gateway = coalesce(excluded.gateway, assets.gateway)
"""
TOUCH_ASSETS = """
UPDATE assets SET last_seen = greatest(assets.last_seen, v.seen)
FROM unnest(%s::text[], %s::timestamptz[]) AS v(asset, seen) WHERE assets.asset = v.asset
"""
MARK_DIRTY = """
INSERT INTO ingest_rollup_dirty (bucket, asset)
SELECT * FROM unnest(%s::timestamptz[], %s::text[])
ON CONFLICT (bucket, asset) DO UPDATE SET marked_at = clock_timestamp()
"""
# Connection trouble: retry the batch later. Anything else is about the data.
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, ServiceUnavailable)


@dataclass(slots=True)
class Outcome:
    rows_written: int = 0
    rows_duplicate: int = 0
    dead_letters: int = 0
    samples: int = 0


def hours(item: Accepted) -> list[datetime]:
    """The UTC hours an accepted message touches (for rollup invalidation)."""
    lo = int(item.oldest.timestamp()) // 3600
    hi = int(item.newest.timestamp()) // 3600
    if hi - lo <= 24:
        span: Sequence[int] = range(lo, hi + 1)
    else:  # sparse history: only the hours that really hold samples
        span = sorted({int(r[0].timestamp()) // 3600 for r in item.rows})
    return [datetime.fromtimestamp(h * 3600, UTC) for h in span]


class Writer:
    """Owns one connection; ``write`` commits a batch or raises a TRANSIENT error."""

    def __init__(
        self,
        dsn: str,
        *,
        mode: WriteMode = "optimistic",
        auto_register: bool = True,
        timeout: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.mode = mode
        self.auto_register = auto_register
        self.timeout = timeout
        self.conn: psycopg.Connection[Any] | None = None
        self.known: set[str] = set()
        self.mark_rollups = True  # off when a continuous aggregate keeps the rollups

    def connect(self) -> psycopg.Connection[Any]:
        if self.conn is not None and not self.conn.closed and not self.conn.broken:
            return self.conn
        self.close()
        conn = fdb.connect(self.dsn, timeout=self.timeout)
        conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} "
            "(time timestamptz, asset text, metric text, value float8) ON COMMIT DELETE ROWS"
        )
        conn.commit()
        self.conn = conn
        return conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # already broken
                log.debug("closing a broken connection", exc_info=True)
            self.conn = None

    # -- the batch ---------------------------------------------------------------------

    def write(self, items: Sequence[Accepted | Rejected]) -> tuple[Outcome, list[Rejected]]:
        """Commit ``items``; return counts and the messages that ended as dead letters.

        A data error the validator did not foresee is isolated by splitting the batch, so
        one bad message becomes a dead letter and never blocks the good ones around it.
        """
        conn = self.connect()
        try:
            return self._commit(conn, items)
        except TRANSIENT:
            self.close()
            raise
        except psycopg.Error as exc:
            conn.rollback()
            accepted = [i for i in items if isinstance(i, Accepted)]
            if len(accepted) <= 1:
                reason = f"database refused: {type(exc).__name__}: {str(exc).strip()[:300]}"
                fixed = [
                    Rejected(i.topic, i.payload, reason) if isinstance(i, Accepted) else i
                    for i in items
                ]
                if not accepted:
                    raise  # dead letters alone failed: not a data problem we can isolate
                return self._commit(conn, fixed)
            mid = len(items) // 2
            a, dead_a = self.write(items[:mid])
            b, dead_b = self.write(items[mid:])
            total = Outcome(
                a.rows_written + b.rows_written,
                a.rows_duplicate + b.rows_duplicate,
                a.dead_letters + b.dead_letters,
                a.samples + b.samples,
            )
            return total, dead_a + dead_b

    def _commit(
        self, conn: psycopg.Connection[Any], items: Sequence[Accepted | Rejected]
    ) -> tuple[Outcome, list[Rejected]]:
        out = Outcome()
        accepted = [i for i in items if isinstance(i, Accepted)]
        rejected = [i for i in items if isinstance(i, Rejected)]
        with conn.transaction():
            if not self.auto_register and accepted:
                accepted, refused = self._known_only(conn, accepted)
                rejected += refused
            rows = [r for a in accepted for r in a.rows]
            out.samples = sum(a.samples for a in accepted)
            out.rows_written = self._rows(conn, rows)
            out.rows_duplicate = len(rows) - out.rows_written
            if rejected:
                with conn.cursor().copy(COPY_DEAD) as copy:
                    copy.set_types(["text", "text", "bytea", "text"])
                    for r in rejected:
                        copy.write_row((SERVICE, r.topic, r.payload, r.reason))
            out.dead_letters = len(rejected)
            if accepted:  # row locks shared with other workers: take them last, in order
                self._assets(conn, accepted)
                if self.mark_rollups:
                    self._mark(conn, accepted)
        return out, rejected

    def _rows(self, conn: psycopg.Connection[Any], rows: list[Row]) -> int:
        if not rows:
            return 0
        if self.mode == "optimistic":
            try:
                with conn.transaction():  # a savepoint: a duplicate undoes only this COPY
                    self._copy(conn, COPY_DIRECT, rows)
                return len(rows)
            except pgerr.UniqueViolation:
                pass
        self._copy(conn, COPY_STAGE, rows)
        cur = conn.execute(MERGE)  # the stage empties itself at commit
        return max(cur.rowcount, 0)

    @staticmethod
    def _copy(conn: psycopg.Connection[Any], sql: str, rows: list[Row]) -> None:
        with conn.cursor().copy(sql) as copy:
            copy.set_types(ROW_TYPES)  # binary COPY applies no casts
            for row in rows:
                copy.write_row(row)

    def _known_only(
        self, conn: psycopg.Connection[Any], accepted: list[Accepted]
    ) -> tuple[list[Accepted], list[Rejected]]:
        missing = sorted({a.asset for a in accepted} - self.known)
        if missing:
            found = conn.execute(
                "SELECT asset FROM assets WHERE asset = ANY(%s)", (missing,)
            ).fetchall()
            self.known.update(r[0] for r in found)
        keep = [a for a in accepted if a.asset in self.known]
        refused = [
            Rejected(
                a.topic,
                a.payload,
                f"unknown asset {a.asset!r} and auto-registration is off (register it first)",
            )
            for a in accepted
            if a.asset not in self.known
        ]
        return keep, refused

    def _assets(self, conn: psycopg.Connection[Any], accepted: list[Accepted]) -> None:
        latest: dict[str, Accepted] = {}
        seen: dict[str, datetime] = {}
        for a in accepted:
            if a.asset not in seen or a.newest > seen[a.asset]:
                seen[a.asset] = a.newest
            prev = latest.get(a.asset)
            if prev is None or (a.asset_class and not prev.asset_class):
                latest[a.asset] = a
        names = sorted(seen)
        if self.auto_register:
            conn.execute(
                UPSERT_ASSETS,
                (
                    names,
                    [latest[n].site for n in names],
                    [latest[n].asset_class for n in names],
                    [latest[n].gateway for n in names],
                    [seen[n] for n in names],
                ),
            )
        else:
            conn.execute(TOUCH_ASSETS, (names, [seen[n] for n in names]))

    @staticmethod
    def _mark(conn: psycopg.Connection[Any], accepted: list[Accepted]) -> None:
        marks = sorted({(h, a.asset) for a in accepted for h in hours(a)})
        conn.execute(MARK_DIRTY, ([m[0] for m in marks], [m[1] for m in marks]))
