"""Issue 14 item 1: a SIGKILLed ticketing loses no anomaly event and duplicates none.

Fault tried: 200 anomaly events queued at the broker while ticketing (a real ``forewarn
ticketing run`` process) is down; on restart it is SIGKILLed right after its first commit,
then again right after the next, then restarted for good. On the old consumer (aiomqtt,
acknowledged on receipt and buffered in memory) most of the backlog vanished without a log
line. Some events are also published twice (a publisher's own retry), so the broker holds
genuine duplicates besides the redeliveries the kills cause.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from ticketing_helpers import uid

from forewarn.testing import Broker
from tests.delivery_support import (
    Backlog,
    account,
    landed,
    publish,
    queue_unbounded,
    until_consumed,
    wait_landed,
)
from tests.pipeline_support import Pipeline, service_env


def test_sigkill_after_the_first_commit_loses_and_duplicates_no_event(
    dsn: str, broker: Broker, tmp_path: Path
) -> None:
    assert queue_unbounded((broker.home / "mosquitto.conf").read_text())
    backlog = Backlog(f"rd{uid()}", n=200)
    events = backlog.events()
    env = service_env(dsn, broker.url, backlog.prefix, FOREWARN_LOG_LEVEL="INFO")
    p = Pipeline(env=env, logs=tmp_path)
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            # First run: its persistent session is what holds the backlog while it is down.
            p.start("ticketing", "ticketing", "run", "--port", str(p.port))
            until_consumed(conn, broker.host, broker.port, f"{backlog.prefix}p")
            p.kill("ticketing")

            publish(broker.host, broker.port, events + events[::7])
            before = 0
            for _ in range(2):  # killed right after the first commit of two incarnations
                p.start("ticketing")
                before = wait_landed(conn, backlog.prefix, before + 1, stall_s=60)
                p.kill("ticketing")
            assert before < len(events), "the kills came too late to test anything"
            p.start("ticketing")
            wait_landed(conn, backlog.prefix, len(events))
            assert p.alive("ticketing"), p.tail("ticketing")
            problems = account(conn, backlog)
            assert not problems, "\n".join(problems) + "\n" + p.tail("ticketing")
            assert landed(conn, backlog.prefix) == len(events)
            dead = conn.execute(
                "select count(*) from dead_letters where topic like %s",
                (f"forewarn/v1/{backlog.site}/{backlog.prefix}-%",),
            ).fetchone()
            assert dead == (0,), "valid events must not become dead letters"
        finally:
            p.stop()
