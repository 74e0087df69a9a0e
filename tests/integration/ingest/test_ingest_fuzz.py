"""Fuzz: thousands of random and malformed payloads interleaved with valid ones.

Bad input tried: random bytes, random JSON documents, and valid batches broken one way at
a time (wrong types, numbers and booleans as strings or numbers, Unix-second and
RFC 3339-violating timestamps, negative seq, NaN/infinity, naive or far-off timestamps, bad metric
names, extra keys, unknown version, empty samples, asset/topic mismatch) plus topics whose
asset level is not a valid id. Every one must land in dead_letters with a reason, every
valid message must be stored, and the worker must keep running.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import Publisher, batch, count, ingest_settings, recent, wait_for

from forewarn.contract import topics
from ingest import Ingestor
from ingest.config import load as load_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _valid(asset: str) -> dict[str, Any]:
    return json.loads(batch(asset, 1, 3, recent()))


def _mutations(asset: str) -> st.SearchStrategy[bytes]:
    def set_(path: tuple[Any, ...], value: Any) -> bytes:
        doc = _valid(asset)
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return json.dumps(doc).encode()

    far = (recent() + timedelta(days=30)).isoformat()
    return st.one_of(
        st.sampled_from(
            [
                set_(("seq",), -1),
                set_(("seq",), "seven"),
                set_(("asset",), "someone-else"),
                set_(("v",), 2),
                set_(("samples",), []),
                set_(("samples", 0, "ts"), "2026-01-01T00:00:00"),  # no offset
                set_(("samples", 0, "ts"), far),
                set_(("samples", 0, "ts"), "1999-01-01T00:00:00Z"),
                set_(("samples", 0, "ts"), "yesterday"),
                set_(("samples", 0, "values"), {}),
                set_(("samples", 0, "values"), {"bad name!": 1.0}),
                set_(("samples", 0, "values", "m0"), "hot"),
                set_(("samples", 0, "extra"), 1),
                set_(("unexpected",), True),
                # Loose forms the schema refuses and main's MQTT path stored (issue 14, item 9):
                set_(("samples", 0, "values", "m0"), "2.3"),
                set_(("samples", 0, "values", "m0"), True),
                set_(("seq",), "1"),
                set_(("historical",), "yes"),
                set_(("historical",), 1),
                set_(("samples", 0, "ts"), int(recent().timestamp())),
                set_(("samples", 0, "ts"), recent().strftime("%Y-%m-%dT%H:%MZ")),
                set_(("samples", 0, "ts"), recent().strftime("%Y-%m-%d %H:%M:%SZ")),
                json.dumps(_valid(asset)).replace('"m0": 1000.0', '"m0": NaN').encode(),
                json.dumps(_valid(asset)).replace('"m0": 1000.0', '"m0": Infinity').encode(),
                json.dumps(
                    {**_valid(asset), "samples": [{"ts": far, "values": {"x": math.pi}}]}
                ).encode(),
            ]
        ),
        st.binary(max_size=200).filter(lambda b: not b.strip().startswith(b"{")),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.text(max_size=50).map(str.encode),
    )


def test_fuzzed_payloads_go_to_dead_letters_and_good_ones_are_stored(
    dsn: str, broker: Any, site: str, db: psycopg.Connection[Any]
) -> None:
    s = ingest_settings(dsn, broker.url, site)
    worker = Ingestor(s, load_ingest(s)).start()
    publisher = Publisher(broker.url)
    asset = f"{site}-fz"
    topic = topics.telemetry(site, asset)
    published = {"bad": 0, "good": 0}
    start = recent(120)
    try:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(bad=st.lists(_mutations(asset), min_size=20, max_size=60), bad_topic=st.booleans())
        def round_(bad: list[bytes], bad_topic: bool) -> None:
            for payload in bad:
                where = f"{topics.ROOT}/{site}/bad asset!/telemetry" if bad_topic else topic
                publisher.send(where, payload)
                good = published["good"]
                publisher.send(topic, batch(asset, good, 2, start + timedelta(seconds=2 * good)))
                published["bad"] += 1
                published["good"] += 1
            publisher.flush()

        round_()
        total = published["bad"] + published["good"]
        wait_for(lambda: worker.metrics.messages >= total, 60, "every message committed")
        assert all(t.is_alive() for t in worker._threads)
    finally:
        publisher.close()
        worker.stop()
    assert published["bad"] >= 1000
    dead = db.execute(
        "select count(*), count(*) filter (where reason <> '') from dead_letters"
        " where topic like %s",
        (f"{topics.ROOT}/{site}/%",),
    ).fetchone()
    assert dead == (published["bad"], published["bad"])
    assert (
        count(dsn, "select count(*) from telemetry where asset = %s", asset)
        == published["good"] * 2 * 2
    )
    assert worker.metrics.dead_letters == published["bad"]
