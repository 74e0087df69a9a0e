"""Chaos: delivery through crashes, as real processes (issue 14 items 1 and 7).

Ticketing is SIGKILLed three times, at seeded random points, while a stream of anomaly
events keeps arriving (some while it is down, some published twice): every event must end
as exactly one ticket or one evidence row. The detectors are SIGKILLed right after a burst
of telemetry (whatever of it they scored and acknowledged is not checkpointed) and stay down while
300 more samples per asset arrive, a leak developing on one pump inside that gap: every
sample must be scored exactly once (the checkpoint counts them) and the leak must alarm.

The per-service tests (tests/integration/ticketing/test_ticketing_redelivery.py,
tests/integration/detectors/test_detectors_catchup.py) cover each mechanism alone; this
suite runs them as deployed: ``forewarn ... run`` processes, ingest beside the detectors.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

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

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_ticketing_killed_during_an_anomaly_backlog_tickets_every_event_once(
    dsn: str, broker: Broker, tmp_path: Path
) -> None:
    assert queue_unbounded((broker.home / "mosquitto.conf").read_text())
    rng = random.Random(14)
    backlog = Backlog(f"cx{secrets.token_hex(3)}", n=240, assets=8)
    events = backlog.events()
    p = Pipeline(env=service_env(dsn, broker.url, backlog.prefix), logs=tmp_path)
    chunks = [events[i : i + 40] for i in range(0, len(events), 40)]
    published = threading.Event()

    def stream() -> None:  # 6 chunks over ~8 s; every fifth event of a chunk twice
        for chunk in chunks:
            publish(broker.host, broker.port, chunk + chunk[::5])
            time.sleep(1.2)
        published.set()

    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            p.start("ticketing", "ticketing", "run", "--port", str(p.port))
            until_consumed(conn, broker.host, broker.port, f"{backlog.prefix}p")
            sender = threading.Thread(target=stream, daemon=True)
            sender.start()
            kills = []
            for _ in range(3):
                target = landed(conn, backlog.prefix) + rng.randint(1, 30)
                kills.append(wait_landed(conn, backlog.prefix, target, stall_s=60))
                p.kill("ticketing")
                time.sleep(rng.uniform(0.2, 1.5))  # events keep arriving meanwhile
                p.start("ticketing")
            sender.join(120)
            assert published.is_set()
            wait_landed(conn, backlog.prefix, len(events))
            print(f"ticketing SIGKILLed with {kills} of {len(events)} events stored")
            assert kills[-1] < len(events), "the kills came after the backlog: nothing tested"
            assert p.alive("ticketing"), p.tail("ticketing")
            problems = account(conn, backlog)
            assert not problems, "\n".join(problems) + "\n" + p.tail("ticketing")
        finally:
            p.stop()


DETECTOR_CFG = "defaults:\n  alarm: {warmup: 200}\n"
SITE = "chaosdet"


def _samples(t0: datetime, start: int, n: int, leak_from: int | None, seed: int) -> list[Any]:
    out = []
    for i in range(start, start + n):
        rng = random.Random(seed * 100_003 + i)
        flow = 30 + rng.gauss(0, 0.3)
        if leak_from is not None and i >= leak_from:
            flow *= 0.7
        ts = (t0 + timedelta(seconds=10 * i)).isoformat().replace("+00:00", "Z")
        out.append({"ts": ts, "values": {"flow": flow, "pressure": 6 + rng.gauss(0, 0.05)}})
    return out


class Telemetry:
    """Two pumps' telemetry at QoS 1, 100 samples a message; ``leaky`` leaks from LEAK."""

    def __init__(self, broker: Broker, prefix: str) -> None:
        self.t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
        self.healthy, self.leaky = f"{prefix}-ok", f"{prefix}-leak"
        self.seq = 0
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-pub")
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def send(self, start: int, n: int) -> None:
        infos = []
        for asset, leak, seed in ((self.healthy, None, 1), (self.leaky, LEAK, 2)):
            batch = _samples(self.t0, start, n, leak, seed)
            for i in range(0, n, 100):
                body = {"asset": asset, "seq": self.seq, "samples": batch[i : i + 100]}
                self.seq += 1
                topic = f"forewarn/v1/{SITE}/{asset}/telemetry"
                infos.append(self.c.publish(topic, json.dumps(body), qos=1))
        for info in infos:
            info.wait_for_publish(30)

    def ts(self, i: int) -> datetime:
        return self.t0 + timedelta(seconds=10 * i)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


LEAK = 1450  # sample index: inside the detectors' outage (1300..1599)


def _checkpoints(conn: psycopg.Connection[Any], assets: tuple[str, str]) -> dict[str, Any]:
    rows = conn.execute(
        "select asset, samples, last_ts from detector_checkpoints where asset = any(%s)",
        (list(assets),),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_samples_published_while_the_detectors_are_dead_are_scored_once(
    dsn: str, broker: Broker, tmp_path: Path
) -> None:
    prefix = f"dx{secrets.token_hex(3)}"
    cfg = tmp_path / "detectors.yaml"
    cfg.write_text(DETECTOR_CFG)
    env = service_env(
        dsn,
        broker.url,
        prefix,
        FOREWARN_DETECTORS__CONFIG=str(cfg),
        FOREWARN_DETECTORS__SITE=SITE,
        FOREWARN_DETECTORS__CHECKPOINT_EVERY_S="1",
        FOREWARN_LOG_LEVEL="INFO",
    )
    p = Pipeline(env=env, logs=tmp_path)
    assert queue_unbounded((broker.home / "mosquitto.conf").read_text())
    tel = Telemetry(broker, prefix)
    assets = (tel.healthy, tel.leaky)
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            p.start("ingest", "ingest", "run")
            p.start("detectors", "detectors", "run")
            p.wait_log("ingest", "subscribed")
            p.wait_log("detectors", "subscribed")
            tel.send(0, 1200)
            _wait(
                lambda: (
                    all(v[0] == 1200 for v in _checkpoints(conn, assets).values())
                    and len(_checkpoints(conn, assets)) == 2
                ),
                60,
                "1200 samples checkpointed per asset",
            )
            tel.send(1200, 100)  # scored (and acknowledged) in part, checkpointed hardly
            p.kill("detectors")
            tel.send(1300, 300)  # the outage, with the leak from sample 1450
            _wait(
                lambda: (
                    conn.execute(
                        "select count(distinct (asset, time)) from telemetry where asset = any(%s)",
                        (list(assets),),
                    ).fetchone()
                    == (3200,)
                ),
                60,
                "ingest to store all 1600 samples per asset",
            )
            mark = p.mark("detectors")
            p.start("detectors")
            want = (1600, tel.ts(1599))
            _wait(
                lambda: _checkpoints(conn, assets) == {a: want for a in assets},
                60,
                f"checkpoints at {want}",
            )
            log = p.text("detectors", mark)
            events = conn.execute(
                "select asset, time, state, payload->>'episode', (payload->>'revision')::int,"
                " payload->'update' from anomalies where asset = any(%s) and not historical"
                " order by time",
                (list(assets),),
            ).fetchall()
        finally:
            tel.close()
            p.stop()
    print("after the outage:", [ln for ln in log.splitlines() if "caught up" in ln])
    assert "resumed from checkpoint" in log and "new model" not in log, log[-3000:]
    # Exactly once: the checkpoint counts every sample of the run (more would mean a
    # redelivered one was scored twice, fewer that one was never scored).
    assert _checkpoints_final(dsn, assets) == {a: (1600, tel.ts(1599)) for a in assets}
    opened = [(a, t, ep, rev, news) for a, t, s, ep, rev, news in events if s == "open"]
    # Only the leak alarms, one episode: its news (a spike, an escalation, a revised fault
    # mode) are numbered updates of it for the same ticket, never an episode of their own.
    assert {a for a, *_ in opened} == {tel.leaky}, events
    assert "cleared" not in [e[2] for e in events[:-1]], events
    episode = opened[0][2]
    assert episode and [(ep, rev) for *_, ep, rev, _ in opened] == [
        (episode, i) for i in range(len(opened))
    ], events
    assert opened[0][4] is None and all(news for *_, news in opened[1:]), events
    assert tel.ts(LEAK) <= opened[0][1] <= tel.ts(1599)


def _checkpoints_final(dsn: str, assets: tuple[str, str]) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        return _checkpoints(conn, assets)
