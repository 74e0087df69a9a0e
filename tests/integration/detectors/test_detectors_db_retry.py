"""The detectors' store calls survive a lost database connection (tenacity, as ingest)."""

from __future__ import annotations

import logging

import psycopg
import pytest

from detectors import store
from detectors.service import DetectorService, DetectorsSettings
from forewarn import db as fdb

pytestmark = pytest.mark.integration


def worker(settings) -> DetectorService:
    svc = DetectorService(settings, DetectorsSettings(worker="retry"))
    svc._conn = fdb.connect(settings.database.dsn, autocommit=True)  # as start() does
    return svc


def test_a_killed_connection_is_replaced_and_the_call_retried(settings, db, caplog):
    svc = worker(settings)
    try:
        pid = svc._conn.info.backend_pid
        db.execute("select pg_terminate_backend(%s)", (pid,))
        with caplog.at_level(logging.WARNING, logger="forewarn.detectors"):
            assert svc._db(store.pending_feedback, ["no-such-asset"]) == []
        assert svc._conn.info.backend_pid != pid  # a new connection did the work
        assert any("reconnecting in 0.5 s" in r.getMessage() for r in caplog.records)
    finally:
        svc._conn.close()


def test_while_stopping_it_gives_up_after_a_few_attempts(settings):
    svc = worker(settings)
    svc.stopping.set()
    calls = []

    def down(conn):
        calls.append(conn)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    svc._retrying = lambda: DetectorService._retrying(svc).copy(wait=lambda state: 0)  # type: ignore[method-assign]
    with pytest.raises(psycopg.OperationalError):
        svc._db(down)
    assert len(calls) == 4
