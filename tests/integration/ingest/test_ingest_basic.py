"""Ingest end to end over the real broker and database (worker in this process)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from ingest_helpers import Publisher, batch, count, ingest_settings, recent, wait_for

from forewarn.contract import topics
from ingest import Ingestor
from ingest.config import load as load_ingest

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(dsn: str, broker: Any, site: str) -> Any:
    started: list[Ingestor] = []

    def start(**ingest: Any) -> Ingestor:
        s = ingest_settings(dsn, broker.url, site, **ingest)
        w = Ingestor(s, load_ingest(s)).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def test_duplicates_are_stored_once_and_assets_registered(
    worker: Any, publisher: Publisher, dsn: str, site: str, db: psycopg.Connection[Any]
) -> None:
    w = worker()
    start = recent()
    payloads = [
        batch(f"{site}-a{k}", seq, 50, start + timedelta(minutes=seq))
        for k in range(3)
        for seq in range(4)
    ]
    for p in payloads:
        asset = json.loads(p)["asset"]
        publisher.send(topics.telemetry(site, asset), p)
        publisher.send(topics.telemetry(site, asset), p)  # the same message again
    publisher.flush()
    expected = 3 * 4 * 50 * 2
    where = "select count(*) from telemetry where asset like %s"
    wait_for(lambda: w.metrics.messages >= 2 * len(payloads), 20, "all messages committed")
    assert count(dsn, where, f"{site}-%") == expected
    assert w.metrics.rows_written == expected and w.metrics.rows_duplicate == expected
    rows = db.execute(
        "select asset, site, asset_class, last_seen from assets where site = %s order by asset",
        (site,),
    ).fetchall()
    assert [r[0] for r in rows] == [f"{site}-a{k}" for k in range(3)]
    assert all(r[2] == "pump" for r in rows)
    newest = start + timedelta(minutes=3, seconds=49)
    assert all(r[3] == newest for r in rows)


def test_bad_messages_become_dead_letters_with_reasons(
    worker: Any, publisher: Publisher, dsn: str, site: str, db: psycopg.Connection[Any]
) -> None:
    w = worker()
    asset = f"{site}-x"
    topic = topics.telemetry(site, asset)
    start = recent()
    bad = {
        b"not json": "not JSON",
        b'{"asset": "%s", "seq": 1, "samples": []}' % asset.encode(): "samples",
        batch(asset, 1, 2, start).replace(b'"seq": 1', b'"seq": "x"'): "seq",
        batch(asset, 2, 1, start).replace(b"2000.0", b"NaN"): "finite",
        batch(asset, 3, 1, start + timedelta(days=2)): "future",
        batch(asset, 4, 1, start - timedelta(days=400)): "older than",
        batch("someone-else", 5, 1, start): "does not match",
        json.dumps({"v": 2, "asset": asset, "seq": 1, "samples": []}).encode(): "version",
    }
    good = batch(asset, 9, 10, start)
    for payload in bad:
        publisher.send(topic, payload)
        publisher.send(topic, good)
    publisher.flush()
    wait_for(lambda: w.metrics.messages >= 2 * len(bad), 20, "all messages committed")
    got = db.execute(
        "select payload, reason from dead_letters where topic = %s and service = 'ingest'", (topic,)
    ).fetchall()
    assert len(got) == len(bad)
    for payload, reason in got:
        assert bad[bytes(payload)].lower() in reason.lower(), reason
    assert count(dsn, "select count(*) from telemetry where asset = %s", asset) == 20


def test_unknown_asset_is_refused_when_auto_registration_is_off(
    worker: Any, publisher: Publisher, dsn: str, site: str, db: psycopg.Connection[Any]
) -> None:
    db.execute("insert into assets (asset, site) values (%s, %s)", (f"{site}-known", site))
    w = worker(auto_register="false")
    start = recent()
    for name in ("known", "stranger"):
        publisher.send(
            topics.telemetry(site, f"{site}-{name}"), batch(f"{site}-{name}", 1, 5, start)
        )
    publisher.flush()
    wait_for(lambda: w.metrics.messages >= 2, 20, "both messages committed")
    assert count(dsn, "select count(*) from telemetry where asset = %s", f"{site}-known") == 10
    assert count(dsn, "select count(*) from telemetry where asset = %s", f"{site}-stranger") == 0
    assert count(dsn, "select count(*) from assets where asset = %s", f"{site}-stranger") == 0
    reason = db.execute(
        "select reason from dead_letters where topic = %s",
        (topics.telemetry(site, f"{site}-stranger"),),
    ).fetchone()
    assert reason and "auto-registration is off" in reason[0]
