"""Durable store-and-forward buffer (SQLite): every batch passes through it.

A batch is written here before it is published and is forgotten only after the broker's
PUBACK, so a broker outage, a lost connection or a gateway restart loses nothing. A PUBACK
is not the end of it, though: Mosquitto keeps messages in memory and saves them every
``autosave_interval`` seconds, so a broker killed (SIGKILL, power loss) loses what it
acknowledged since its last save. Acknowledged batches are therefore *held* (``acked_at``)
for ``hold_s`` seconds, longer than the broker's save interval, and every new connection
resends them; ingest stores a replayed batch as a no-op and the detectors skip samples
they have already seen. The buffer is bounded; when full the held batches go first, then
the oldest pending ones, and that drop is counted and persisted so the status message can
report it (never silent).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forewarn.contract import wire
from forewarn.errors import ForewarnError

_SCHEMA = """
create table if not exists batches (
    id integer primary key autoincrement,
    topic text not null,
    asset text not null,
    seq integer not null,
    samples text not null,
    n_samples integer not null,
    asset_class text,
    gateway text,
    created real not null,
    historical integer not null default 0,
    acked_at real
);
create table if not exists meta (key text primary key, value integer not null);
"""


class BufferUnusable(ForewarnError):
    """The buffer file exists but is no SQLite database of ours (or cannot be written)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"gateway buffer {path} is unusable: {reason}. Point buffer.path at a new file "
            "(the gateway creates it) or move this one away"
        )


@dataclass(frozen=True, slots=True)
class Pending:
    """A batch waiting in the buffer (not yet acknowledged by the broker)."""

    id: int
    topic: str
    asset: str
    seq: int
    samples: str
    n_samples: int
    asset_class: str | None
    gateway: str | None
    created: float
    historical: bool

    def payload(self) -> bytes:
        """The v1 TelemetryBatch JSON; samples are stored already encoded."""
        return wire.telemetry_envelope(
            self.asset, self.seq, self.samples, self.historical, self.asset_class, self.gateway
        )


@dataclass(frozen=True, slots=True)
class NewBatch:
    topic: str
    asset: str
    samples: str
    n_samples: int
    asset_class: str | None = None
    gateway: str | None = None


class Buffer:
    """SQLite-backed FIFO of batches; thread-safe (one connection behind a lock)."""

    def __init__(
        self, path: str | Path, *, max_batches: int = 100_000, synchronous: str = "FULL"
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_batches = max_batches
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("pragma journal_mode=WAL")
            self._db.execute(f"pragma synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
            cols = {r[1] for r in self._db.execute("pragma table_info(batches)")}
            if "acked_at" not in cols:  # a buffer written by a gateway before holding acks
                self._db.execute("alter table batches add column acked_at real")
            # Whatever survived a previous run unacknowledged is replayed data by definition.
            self._db.execute(
                "update batches set historical = 1 where historical = 0 and acked_at is null"
            )
        except sqlite3.Error as exc:  # e.g. "file is not a database", a foreign schema
            raise BufferUnusable(self.path, str(exc)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _meta(self, key: str) -> int:
        row = self._db.execute("select value from meta where key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, key: str, by: int) -> int:
        self._db.execute(
            "insert into meta (key, value) values (?, ?) "
            "on conflict (key) do update set value = value + excluded.value",
            (key, by),
        )
        return self._meta(key)

    def append(self, batches: Sequence[NewBatch], *, historical: bool) -> list[int]:
        """Store batches in one transaction, assigning each asset its next ``seq``."""
        now = time.time()
        with self._lock:
            self._db.execute("begin immediate")
            try:
                seqs = []
                for b in batches:
                    seq = self._bump(f"seq:{b.asset}", 1) - 1
                    self._db.execute(
                        "insert into batches (topic, asset, seq, samples, n_samples, "
                        "asset_class, gateway, created, historical) values (?,?,?,?,?,?,?,?,?)",
                        (
                            b.topic,
                            b.asset,
                            seq,
                            b.samples,
                            b.n_samples,
                            b.asset_class,
                            b.gateway,
                            now,
                            int(historical),
                        ),
                    )
                    seqs.append(seq)
                self._enforce_bound()
                self._db.execute("commit")
            except BaseException:
                self._db.execute("rollback")
                raise
        return seqs

    def _enforce_bound(self) -> None:
        (depth,) = self._db.execute("select count(*) from batches").fetchone()
        over = depth - self.max_batches
        if over <= 0:
            return
        held = self._db.execute(
            "select id from batches where acked_at is not null order by id limit ?", (over,)
        ).fetchall()
        if held:  # acknowledged ones first: the broker most likely has them saved
            marks = ",".join("?" * len(held))
            self._db.execute(f"delete from batches where id in ({marks})", [h[0] for h in held])
            over -= len(held)
        if over <= 0:
            return
        rows = self._db.execute(
            "select id, n_samples from batches where acked_at is null order by id limit ?",
            (over,),
        ).fetchall()
        self._db.execute("delete from batches where id <= ? and acked_at is null", (rows[-1][0],))
        self._bump("dropped_batches", len(rows))
        self._bump("dropped_samples", sum(n for _, n in rows))

    def peek(self, after_id: int = 0, limit: int = 100) -> list[Pending]:
        """Oldest unacknowledged batches with id > ``after_id``, in order."""
        with self._lock:
            rows = self._db.execute(
                "select id, topic, asset, seq, samples, n_samples, asset_class, gateway, "
                "created, historical from batches where id > ? and acked_at is null "
                "order by id limit ?",
                (after_id, limit),
            ).fetchall()
        return [
            Pending(
                id=r[0],
                topic=r[1],
                asset=r[2],
                seq=r[3],
                samples=r[4],
                n_samples=r[5],
                asset_class=r[6],
                gateway=r[7],
                created=r[8],
                historical=bool(r[9]),
            )
            for r in rows
        ]

    def remove(self, ids: Sequence[int]) -> None:
        """Forget acknowledged batches."""
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        with self._lock:
            self._db.execute(f"delete from batches where id in ({marks})", list(ids))

    def ack(self, ids: Sequence[int], hold_s: float) -> None:
        """The broker acknowledged these: hold them ``hold_s`` (0: forget them now)."""
        if hold_s <= 0:
            self.remove(ids)
            return
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        with self._lock:
            self._db.execute(
                f"update batches set acked_at = ? where id in ({marks})", [time.time(), *ids]
            )

    def release_held(self, hold_s: float) -> int:
        """On a new connection: forget batches held longer than ``hold_s`` and make the
        rest pending again, so they are resent (their ``historical`` flag unchanged: a
        copy of what was sent). Returns how many will be resent."""
        with self._lock:
            self._db.execute(
                "delete from batches where acked_at < ?", (time.time() - max(hold_s, 0.0),)
            )
            cur = self._db.execute("update batches set acked_at = null where acked_at is not null")
            return cur.rowcount

    def purge_held(self, hold_s: float) -> None:
        """Forget acknowledged batches held longer than ``hold_s`` (saved by now)."""
        with self._lock:
            self._db.execute(
                "delete from batches where acked_at < ?", (time.time() - max(hold_s, 0.0),)
            )

    def mark_historical(self) -> int:
        """Everything still unacknowledged will be replayed from the buffer: mark it so."""
        with self._lock:
            cur = self._db.execute(
                "update batches set historical = 1 where historical = 0 and acked_at is null"
            )
            return cur.rowcount

    def depth(self) -> tuple[int, int]:
        """(batches, samples) waiting for a PUBACK (held ones not counted)."""
        with self._lock:
            n, s = self._db.execute(
                "select count(*), coalesce(sum(n_samples), 0) from batches where acked_at is null"
            ).fetchone()
        return int(n), int(s)

    def held(self) -> int:
        """Acknowledged batches still held against a broker crash."""
        with self._lock:
            (n,) = self._db.execute(
                "select count(*) from batches where acked_at is not null"
            ).fetchone()
        return int(n)

    def dropped(self) -> tuple[int, int]:
        """(batches, samples) dropped because the buffer was full, over its whole life."""
        with self._lock:
            return self._meta("dropped_batches"), self._meta("dropped_samples")
