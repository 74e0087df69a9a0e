"""Store.run retries a transaction that lost a deadlock or serialization race, and only that."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from ticketing.clock import SystemClock
from ticketing.store import Emitted, Store, Tx


@pytest.fixture
def store(dsn: str) -> Any:
    s = Store(dsn, SystemClock(), min_size=1, max_size=2)
    s.open()
    yield s
    s.close()


def test_a_lost_race_is_run_again_and_its_events_published_once(store: Store) -> None:
    calls: list[int] = []
    published: list[list[str]] = []
    store.listeners.append(lambda emitted: published.append([e.event_type for e in emitted]))

    def fn(tx: Tx) -> int:
        calls.append(1)
        tx.emitted.append(Emitted(f"try-{len(calls)}", "site-a", None, {}))
        if len(calls) < 3:
            raise (
                psycopg.errors.DeadlockDetected
                if len(calls) == 1
                else psycopg.errors.SerializationFailure
            )()
        row = tx.one("select 41 + 1 as n")
        assert row is not None
        return int(row["n"])

    assert store.run(fn) == 42
    assert len(calls) == 3
    assert published == [["try-3"]]  # the failed attempts' events were never published


def test_it_gives_up_after_the_attempts_and_other_errors_are_not_retried(store: Store) -> None:
    calls: list[int] = []

    def deadlocked(tx: Tx) -> None:
        calls.append(1)
        raise psycopg.errors.DeadlockDetected()

    with pytest.raises(psycopg.errors.DeadlockDetected):
        store.run(deadlocked, attempts=3)
    assert len(calls) == 3

    calls.clear()

    def broken(tx: Tx) -> None:
        calls.append(1)
        tx.one("select 1 / 0")

    with pytest.raises(psycopg.errors.DivisionByZero):
        store.run(broken)
    assert len(calls) == 1
