"""An anomaly that arrives over MQTT while the database is down still opens its ticket.

The consumer holds the event, unacknowledged, until the database is back (the broker keeps
the rest); first found when the old consumer acknowledged on receipt and dropped the event.
"""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from ticketing_helpers import anomaly

from forewarn import db as fdb
from forewarn.testing import PgCluster
from ticketing.clock import SystemClock
from ticketing.consumer import handle
from ticketing.store import Store

pytestmark = pytest.mark.integration


def test_anomaly_during_a_database_outage_is_stored_when_it_returns(pg_cluster: PgCluster) -> None:
    dsn = fdb.create_database(pg_cluster.dsn, "outage")
    fdb.migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into assets (asset, site, asset_class) values ('pump-x', 'site-a', 'pump')"
        )
    store = Store(dsn, SystemClock(), min_size=1, max_size=2)
    store.open()
    try:
        event = anomaly("pump-x", event_id="outage-1")
        pg_cluster.stop()
        result: dict[str, object] = {}
        worker = threading.Thread(
            target=lambda: result.update(
                out=handle(store, "forewarn/v1/site-a/pump-x/anomaly", json.dumps(event).encode())
            )
        )
        worker.start()
        time.sleep(2.0)  # the consumer is waiting out the outage, not dropping the event
        assert worker.is_alive()
        pg_cluster.start()
        worker.join(60)
        assert not worker.is_alive()
    finally:
        store.close()
    with psycopg.connect(dsn) as conn:
        tickets = conn.execute(
            "select asset, source, fault_mode from tickets where asset = 'pump-x'"
        ).fetchall()
        letters = conn.execute("select count(*) from dead_letters").fetchone()
    assert tickets == [("pump-x", "predictive", "bearing_wear")]
    assert letters == (0,)
