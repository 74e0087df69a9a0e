"""The durable buffer and the batcher, on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

from forewarn.contract import TelemetryBatch, decode
from gateway.batcher import Batcher
from gateway.buffer import Buffer, NewBatch


def _batch(asset: str, n: int = 1) -> NewBatch:
    samples = ",".join(
        f'{{"ts":"2026-01-01T00:00:{i:02d}Z","values":{{"x":{i}}}}}' for i in range(n)
    )
    return NewBatch(
        topic=f"forewarn/v1/s/{asset}/telemetry",
        asset=asset,
        samples=f"[{samples}]",
        n_samples=n,
        asset_class="chiller",
        gateway="gw",
    )


def test_payload_is_a_valid_v1_batch(tmp_path):
    buf = Buffer(tmp_path / "b.sqlite")
    buf.append([_batch("a1", 3)], historical=True)
    (row,) = buf.peek()
    batch = decode(TelemetryBatch, row.payload())
    assert (batch.asset, batch.seq, batch.historical, len(batch.samples)) == ("a1", 0, True, 3)
    assert batch.asset_class == "chiller" and batch.gateway == "gw"


def test_fifo_remove_and_per_asset_seq(tmp_path):
    buf = Buffer(tmp_path / "b.sqlite")
    buf.append([_batch("a1"), _batch("a2"), _batch("a1")], historical=False)
    rows = buf.peek()
    assert [(r.asset, r.seq) for r in rows] == [("a1", 0), ("a2", 0), ("a1", 1)]
    assert [r.id for r in buf.peek(after_id=rows[0].id)] == [rows[1].id, rows[2].id]
    buf.remove([rows[1].id])
    assert [r.id for r in buf.peek()] == [rows[0].id, rows[2].id]
    assert buf.depth() == (2, 2)


def test_survives_reopen_and_replays_as_historical(tmp_path):
    path = tmp_path / "b.sqlite"
    buf = Buffer(path)
    buf.append([_batch("a1", 2)], historical=False)
    buf.close()
    again = Buffer(path)
    (row,) = again.peek()
    assert row.historical and row.n_samples == 2
    again.append([_batch("a1")], historical=False)
    assert [r.seq for r in again.peek()] == [0, 1], "seq continues after a restart"


def test_full_buffer_drops_oldest_and_counts_it(tmp_path):
    path = tmp_path / "b.sqlite"
    buf = Buffer(path, max_batches=10)
    for i in range(25):
        buf.append([_batch("a1", 1 + i % 2)], historical=True)
    rows = buf.peek(limit=100)
    assert len(rows) == 10 and [r.seq for r in rows] == list(range(15, 25)), "newest kept"
    dropped_samples = sum(1 + i % 2 for i in range(15))
    assert buf.dropped() == (15, dropped_samples)
    buf.close()
    assert Buffer(path, max_batches=10).dropped() == (15, dropped_samples), "persisted"


def test_batcher_closes_batches_by_size_and_by_latency(tmp_path):
    buf = Buffer(tmp_path / "b.sqlite")
    flushed: list[int] = []
    connected = [True]

    async def scenario():
        b = Batcher(
            buf,
            gateway="gw",
            site="s",
            max_samples=5,
            max_latency_s=0.2,
            is_connected=lambda: connected[0],
            on_flush=lambda: flushed.append(1),
        )
        task = asyncio.create_task(b.run())
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(12):  # two full batches at once, two samples left over
            b.add("a1", t0 + timedelta(seconds=i), {"x": float(i)}, "chiller")
        await asyncio.sleep(0.05)
        full = buf.depth()
        connected[0] = False
        await asyncio.sleep(0.4)  # the leftover goes out by latency, written while offline
        task.cancel()
        return full

    full = asyncio.run(scenario())
    assert full == (2, 10)
    rows = buf.peek()
    assert [r.n_samples for r in rows] == [5, 5, 2]
    assert [r.historical for r in rows] == [False, False, True]
    values = [s.values["x"] for r in rows for s in decode(TelemetryBatch, r.payload()).samples]
    assert values == [float(i) for i in range(12)]
    assert flushed


def test_a_refused_buffer_write_keeps_the_samples_and_retries(tmp_path):
    """Bad disk (injected: the first write raises like a full disk): nothing is lost."""
    buf = Buffer(tmp_path / "b.sqlite")
    real_append = buf.append
    calls = []

    def flaky(batches, *, historical):
        calls.append(len(batches))
        if len(calls) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real_append(batches, historical=historical)

    buf.append = flaky  # type: ignore[method-assign]

    async def scenario():
        b = Batcher(buf, gateway="gw", site="s", max_samples=3, max_latency_s=0.05)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(4):
            b.add("a1", t0 + timedelta(seconds=i), {"x": float(i)})
        assert await b.flush() == 0 and b.write_errors == 1
        b.add("a1", t0 + timedelta(seconds=4), {"x": 4.0})
        await asyncio.sleep(0.06)
        assert await b.flush() > 0 and b.last_error is None

    asyncio.run(scenario())
    values = [
        s.values["x"] for r in buf.peek() for s in decode(TelemetryBatch, r.payload()).samples
    ]
    assert values == [0.0, 1.0, 2.0, 3.0, 4.0]
