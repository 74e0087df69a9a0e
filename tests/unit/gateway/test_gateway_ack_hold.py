"""The buffer holds PUBACKed batches against a broker crash (issue 14, item 6)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from gateway.buffer import Buffer, NewBatch


def _fill(buf: Buffer, n: int) -> list[int]:
    buf.append(
        [NewBatch(topic="t", asset="a", samples="[]", n_samples=1) for _ in range(n)],
        historical=False,
    )
    return [p.id for p in buf.peek(0, 100)]


def test_acked_batches_are_held_then_resent_on_release(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "b.sqlite")
    ids = _fill(buf, 3)
    buf.ack(ids[:2], hold_s=60)
    assert buf.depth() == (1, 1) and buf.held() == 2
    assert [p.id for p in buf.peek(0, 10)] == ids[2:], "held batches are not pending"
    buf.mark_historical()  # a fault: only the unacknowledged one becomes historical
    assert buf.release_held(60) == 2
    again = buf.peek(0, 10)
    assert [p.id for p in again] == ids, "resent oldest first, in order"
    assert [p.historical for p in again] == [False, False, True], "a copy of what was sent"


def test_hold_expires_and_zero_means_forget(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "b.sqlite")
    ids = _fill(buf, 3)
    buf.ack(ids[:1], hold_s=0)
    assert buf.held() == 0 and buf.depth()[0] == 2
    buf.ack(ids[1:2], hold_s=60)
    time.sleep(0.05)
    buf.purge_held(0.01)
    assert buf.held() == 0 and buf.release_held(60) == 0


def test_full_buffer_drops_held_before_pending(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "b.sqlite", max_batches=10)
    ids = _fill(buf, 10)
    buf.ack(ids[:4], hold_s=60)
    _fill(buf, 3)
    assert buf.held() == 1 and buf.depth()[0] == 9
    assert buf.dropped() == (0, 0), "dropping an acknowledged batch loses nothing"
    _fill(buf, 2)
    assert buf.held() == 0 and buf.dropped() == (1, 1)


def test_old_buffer_file_gains_the_column(tmp_path: Path) -> None:
    """A buffer written by a gateway before this change opens and keeps its batches."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "create table batches (id integer primary key autoincrement, topic text not null,"
        " asset text not null, seq integer not null, samples text not null, n_samples"
        " integer not null, asset_class text, gateway text, created real not null,"
        " historical integer not null default 0);"
        "insert into batches (topic, asset, seq, samples, n_samples, created)"
        " values ('t', 'a', 0, '[]', 1, 0);"
    )
    db.commit()
    db.close()
    buf = Buffer(path)
    assert buf.depth() == (1, 1) and buf.peek(0, 10)[0].historical


@pytest.mark.parametrize("hold", [0.0, 60.0])
def test_ack_of_nothing_is_a_no_op(tmp_path: Path, hold: float) -> None:
    buf = Buffer(tmp_path / "b.sqlite")
    buf.ack([], hold)
    assert buf.depth() == (0, 0)
