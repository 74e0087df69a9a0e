"""When the ticketing consumer acknowledges an anomaly event (units, with a fake store and
a fake paho client; the real broker and database are in
tests/integration/ticketing/test_ticketing_redelivery.py).

Faults tried: the connection drops between receipt and commit (the old session's message
must not be acknowledged on the new one), the database goes away while the service stops
(the event is left for redelivery), and a payload that breaks the contract (dead-lettered,
then acknowledged so it is not redelivered forever).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg

from forewarn.settings import MqttSettings
from ticketing.consumer import Consumer, Message

TOPIC = "forewarn/v1/site-a/pump-1/anomaly"
EVENT = {
    "event_id": "ev-1",
    "site": "site-a",
    "asset": "pump-1",
    "ts": "2026-01-05T08:55:00Z",
    "detector": {"name": "hst", "version": "1", "config_hash": "abc"},
    "score": 0.9,
    "severity": "warning",
    "fault_mode": "bearing_wear",
}


class FakeStore:
    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log, self.fail = log, fail

    def run(self, fn: Any) -> dict[str, Any]:
        if self.fail:
            raise psycopg.OperationalError("server closed the connection")
        self.log.append("commit")
        return {}


class FakeClient:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def ack(self, mid: int, qos: int) -> None:
        self.log.append(f"ack {mid}")


def consumer(store: FakeStore, log: list[str]) -> Consumer:
    c = Consumer(store, MqttSettings())  # type: ignore[arg-type]
    c.client = FakeClient(log)  # type: ignore[assignment]
    c.session = 3
    return c


def drain(c: Consumer, *msgs: Message) -> None:
    for m in msgs:
        c.inbox.put(m)
    worker = threading.Thread(target=c._work)
    worker.start()
    while not c.inbox.empty() and worker.is_alive():
        worker.join(0.05)
    c.stopping.set()  # the message in hand is still finished (and acknowledged)
    worker.join(5)
    assert not worker.is_alive()


def test_acknowledged_only_after_the_commit_and_only_on_its_own_session() -> None:
    log: list[str] = []
    c = consumer(FakeStore(log), log)
    body = json.dumps(EVENT).encode()
    drain(c, Message(7, 1, TOPIC, body, 3), Message(8, 1, TOPIC, body, 2))
    # mid 8 came on an earlier connection: the broker redelivers it, so no ack now
    assert log == ["commit", "ack 7", "commit"]


def test_a_database_outage_at_stop_leaves_the_event_unacknowledged() -> None:
    log: list[str] = []
    c = consumer(FakeStore(log, fail=True), log)
    c.inbox.put(Message(9, 1, TOPIC, json.dumps(EVENT).encode(), 3))
    worker = threading.Thread(target=c._work)
    worker.start()
    while c.inbox.qsize():
        worker.join(0.01)
    c.stopping.set()  # stopping while the store keeps failing: give up, no ack
    worker.join(10)
    assert not worker.is_alive() and log == []


def test_a_bad_payload_is_dead_lettered_then_acknowledged() -> None:
    log: list[str] = []
    c = consumer(FakeStore(log), log)
    drain(c, Message(11, 1, TOPIC, b"{not json", 3))
    assert log == ["commit", "ack 11"]  # the dead letter's commit, then the ack
