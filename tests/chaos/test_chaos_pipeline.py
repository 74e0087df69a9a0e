"""Chaos: the whole pipeline, as real processes, while its parts are killed and restarted.

One paced simulator run (six simulated days of two pumps, one of them wearing a bearing,
in about a minute of wall time) streams through Mosquitto, ingest, TimescaleDB, detectors
and ticketing while the test, in turn: SIGKILLs ingest and restarts it, restarts the
broker, SIGKILLs the detectors and restarts them, restarts the database, and SIGKILLs
ticketing once the predictive ticket exists. Beside it a real-time Modbus site (two more
pumps) is polled by a real ``forewarn gateway run`` whose WAN link is cut for two minutes
spanning all of those faults (see gateway_leg.py). Afterwards the tests below hold the pipeline
to account: every sample the simulator produced is stored exactly once (checked against
an offline export of the same seeded scenario), one predictive ticket for the worn pump and
none for the healthy one, the ticket's SLA deadlines unchanged by the ticketing crash, the
detectors resumed from their checkpoint instead of a new warm-up, and every sample the
gateway polled stored exactly once, the ones polled while cut off flagged historical.

The per-service fault tests (tests/integration/...) cover each failure in isolation;
this suite checks that the services' recoveries compose.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from forewarn import db as fdb
from forewarn.contract import GatewayStatus, decode
from forewarn.testing import Broker, PgCluster
from tests.chaos.gateway_leg import PREFIX as GW_PREFIX
from tests.chaos.gateway_leg import GatewayLeg
from tests.pipeline_support import Pipeline, service_env

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

SEED = 23
FAULTY, HEALTHY = f"c{SEED}-001", f"c{SEED}-002"
DAYS = 6
PERIOD_S = 60
SPEED = 8000  # simulated s per wall s: six days in ~65 s, 133 steps/s
SCENARIO = f"""
name: chaos
seed: {SEED}
duration: {DAYS}d
sample_period_s: {PERIOD_S}
batch_samples: 30
sites:
  - {{id: chaos{SEED}, lat: 50.0, lon: 8.0}}
fleet:
  - {{site: chaos{SEED}, asset_class: centrifugal_pump, count: 2, prefix: c{SEED}-}}
degradations:
  - {{asset: {FAULTY}, mode: bearing_wear, onset: 2d12h, failure_after: 3d}}
"""
STEPS = math.ceil(DAYS * 86400 / PERIOD_S)
WAN_DOWN_S = 122.0  # the gateway's link is cut before the first fault, restored after the last


@dataclass
class ChaosRun:
    """What the run did and saw, for the assertions."""

    pipeline: Pipeline
    dsn: str
    token: str
    expected: dict[str, set[tuple[str, str]]]  # asset -> {(metric, time iso)} the sim produced
    sim_rc: int | None = None
    faults: list[tuple[float, str]] = field(default_factory=list)
    resumed_log: str = ""
    ticket_before_kill: dict[str, Any] | None = None
    dues_before_kill: tuple[Any, ...] | None = None
    gw: GatewayLeg | None = None


def _expected_samples(p: Pipeline, scenario: Path, start: str, out: Path) -> dict[str, set]:
    """Every (metric, time) the seeded scenario yields, from the simulator's offline export."""
    p.cli("sim", "export", str(scenario), "--out", str(out), "--start", start)
    expected: dict[str, set[tuple[str, str]]] = {}
    for asset in (FAULTY, HEALTHY):
        cells = expected.setdefault(asset, set())
        with open(out / f"{asset}.csv") as f:
            for row in csv.DictReader(f):
                ts = row.pop("time", None) or row.pop("ts")
                for metric, value in row.items():
                    if metric in ("label", "degradation", "mode", "fault") or value in ("", None):
                        continue
                    try:
                        if math.isnan(float(value)):
                            continue
                    except ValueError:
                        continue
                    cells.add((metric, ts))
    return expected


def _stored(dsn: str) -> dict[str, tuple[int, int, int]]:
    """Per asset: rows, distinct (metric, time), distinct time."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select asset, count(*), count(distinct (metric, time)), count(distinct time)"
            " from telemetry where asset like %s group by 1",
            (f"c{SEED}-%",),
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _gateway_rows(dsn: str) -> dict[tuple[str, datetime], tuple[int, int]]:
    """Per (asset, time) of the gateway's assets: rows and distinct metrics."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select asset, time, count(*), count(distinct metric) from telemetry"
            " where asset like %s group by 1, 2",
            (f"{GW_PREFIX}%",),
        ).fetchall()
    return {(a, t): (n, d) for a, t, n, d in rows}


def _dues(dsn: str, ticket_id: int) -> tuple[Any, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select response_due, resolution_due, priority, state from tickets where id = %s",
            (ticket_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.fixture(scope="module")
def chaos(
    workdir: Path, mosquitto_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChaosRun]:
    logs = tmp_path_factory.mktemp("chaos")
    cluster = PgCluster(home=workdir / "pg-chaos").start()
    broker: Broker = mosquitto_factory()
    dsn = fdb.create_database(cluster.dsn, "forewarn")
    fdb.migrate(dsn)
    env = service_env(
        dsn,
        broker.url,
        f"chaos{SEED}",
        FOREWARN_DETECTORS__CHECKPOINT_EVERY_S="2",
        FOREWARN_LOG_LEVEL="INFO",
    )
    p = Pipeline(env=env, logs=logs)
    gw: GatewayLeg | None = None
    try:
        p.start_services()
        gw = GatewayLeg.start(p, broker.url, logs)
        gw.cut()  # now, so the export below counts towards the outage, not the test's time
        cut = time.monotonic()
        scenario = logs / "chaos.yaml"
        scenario.write_text(SCENARIO)
        begin = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=DAYS)
        start = begin.isoformat().replace("+00:00", "Z")
        expected = _expected_samples(p, scenario, start, logs / "export")
        token = p.cli("tickets", "token", "create", "chaos", "--role", "admin").split()[-1]
        run = ChaosRun(p, dsn, token, expected, gw=gw)
        sim = p.background(
            "sim", "sim", "run", str(scenario), "--mqtt", "--speed", str(SPEED), "--start", start
        )
        t0 = time.monotonic()

        def at(t: float, what: str) -> None:
            time.sleep(max(0.0, t0 + t - time.monotonic()))
            run.faults.append((round(time.monotonic() - t0, 1), what))

        run.faults.append((round(cut - t0, 1), "gateway WAN cut"))
        at(6, "SIGKILL ingest")
        p.kill("ingest")
        time.sleep(2)
        mark = p.mark("ingest")
        p.start("ingest")
        p.wait_log("ingest", "subscribed", since=mark)

        at(14, "broker restart")
        broker.restart(downtime=2)

        at(22, "SIGKILL detectors")
        p.kill("detectors")
        mark = p.mark("detectors")
        p.start("detectors")
        p.wait_log("detectors", "resumed from checkpoint", since=mark)
        run.resumed_log = p.text("detectors", mark)

        at(32, "database restart")
        cluster.stop("fast")
        time.sleep(3)
        cluster.start()

        # Ticketing dies as soon as the predictive ticket exists, while the detectors are
        # still publishing anomaly events for it (escalations go to its persistent session).
        deadline = t0 + 150
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                found = [t for t in p.tickets(token, FAULTY) if t["source"] == "predictive"]
                if found:
                    run.ticket_before_kill = found[0]
                    break
            time.sleep(0.5)
        if run.ticket_before_kill is not None:
            run.dues_before_kill = _dues(dsn, run.ticket_before_kill["id"])
        run.faults.append((round(time.monotonic() - t0, 1), "SIGKILL ticketing"))
        p.kill("ticketing")
        time.sleep(2)
        mark = p.mark("ticketing")
        p.start("ticketing")
        p.wait_log("ticketing", "Application startup complete", since=mark)

        run.sim_rc = sim.wait(180)
        # Everything drains: every expected sample stored, then a grace period for events.
        want = {a: len(c) for a, c in expected.items()}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            stored = _stored(dsn)
            if all(stored.get(a, (0,))[0] >= n for a, n in want.items()):
                break
            time.sleep(1)
        time.sleep(5)

        at(cut - t0 + WAN_DOWN_S, "gateway WAN restored")
        gw.restore()
        gw.finish()
        polled = gw.final.metrics.get("samples_polled", -1) if gw.final else -1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_gateway_rows(dsn)) < polled:
            time.sleep(0.5)
        yield run
    finally:
        if gw is not None:
            gw.close()
        p.stop()
        with contextlib.suppress(Exception):
            cluster.stop("immediate")


def test_every_service_survived_and_the_simulator_finished(chaos: ChaosRun) -> None:
    p = chaos.pipeline
    print("faults injected at (s):", chaos.faults)
    assert chaos.sim_rc == 0, p.tail("sim")
    for name in ("ingest", "detectors", "ticketing"):
        assert p.alive(name), f"{name} died:\n{p.tail(name)}"
        # A worker thread that dies leaves the process up but deaf (detectors did, on the
        # database restart, before they learnt to reconnect).
        assert "Exception in thread" not in p.text(name), f"{name}:\n{p.tail(name, 60)}"


def test_no_sample_lost_or_duplicated(chaos: ChaosRun) -> None:
    stored = _stored(chaos.dsn)
    for asset, cells in chaos.expected.items():
        rows, distinct, times = stored.get(asset, (0, 0, 0))
        assert times == STEPS, f"{asset}: {times} of {STEPS} sample times stored"
        assert distinct == len(cells), f"{asset}: {distinct} of {len(cells)} values stored"
        assert rows == distinct, f"{asset}: {rows - distinct} duplicated rows"
    with psycopg.connect(chaos.dsn) as conn:
        got = {
            (a, m, t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            for a, m, t in conn.execute(
                "select asset, metric, time from telemetry where asset like %s", (f"c{SEED}-%",)
            )
        }
        dead = conn.execute("select count(*) from dead_letters").fetchone()
    want = {(a, m, t) for a, cells in chaos.expected.items() for m, t in cells}
    assert got == want, f"missing {sorted(want - got)[:5]}, unexpected {sorted(got - want)[:5]}"
    assert dead == (0,), "the simulator's valid samples must not become dead letters"


def test_detectors_resumed_from_checkpoint(chaos: ChaosRun) -> None:
    resumed = re.findall(r"resumed from checkpoint at (\d+) samples", chaos.resumed_log)
    assert resumed, chaos.resumed_log
    assert all(int(n) > 0 for n in resumed)
    assert "new model" not in chaos.resumed_log, "a restart must not start a new warm-up"
    with psycopg.connect(chaos.dsn) as conn:
        rows = conn.execute(
            "select asset, samples from detector_checkpoints where asset like %s order by 1",
            (f"c{SEED}-%",),
        ).fetchall()
    # The final checkpoints count (nearly) the whole run: the model carried on, not restarted.
    assert [a for a, _ in rows] == [FAULTY, HEALTHY]
    assert all(n > max(int(x) for x in resumed) for _, n in rows), rows


def test_one_predictive_ticket_for_the_worn_pump_none_for_the_healthy(chaos: ChaosRun) -> None:
    p = chaos.pipeline
    tickets = p.tickets(chaos.token, f"c{SEED}-")
    assert [(t["asset"], t["source"]) for t in tickets] == [(FAULTY, "predictive")], (
        f"{tickets}\n--- detectors ---\n{p.tail('detectors')}\n--- ticketing ---\n"
        f"{p.tail('ticketing')}"
    )
    with psycopg.connect(chaos.dsn) as conn:
        opens = conn.execute(
            "select count(*) from anomalies where asset = %s and state = 'open'", (FAULTY,)
        ).fetchone()
        healthy = conn.execute(
            "select count(*) from anomalies where asset = %s and not historical", (HEALTHY,)
        ).fetchone()
    assert opens and opens[0] >= 1
    assert healthy == (0,), "no anomaly for the healthy pump"


def test_sla_deadlines_survive_the_ticketing_crash(chaos: ChaosRun) -> None:
    before = chaos.ticket_before_kill
    assert before is not None, "no predictive ticket appeared while the stream ran"
    assert chaos.dues_before_kill is not None
    response_due, resolution_due, _, _ = chaos.dues_before_kill
    assert response_due is not None and resolution_due is not None
    after = _dues(chaos.dsn, before["id"])
    # Same deadlines (a restart re-arms timers from the database, it does not reset them);
    # priority may only have been raised by later evidence, which re-derives the deadlines.
    if after[2] == chaos.dues_before_kill[2]:
        assert after[:2] == chaos.dues_before_kill[:2]
    else:
        assert after[0] is not None and after[1] is not None


def test_the_gateway_rode_out_its_wan_cut(chaos: ChaosRun) -> None:
    gw, p = chaos.gw, chaos.pipeline
    assert gw is not None
    log = p.text("gateway")
    assert gw.alive_before_stop, p.tail("gateway", 60)
    assert gw.stop_rc == 0, p.tail("gateway", 60)
    assert "Traceback" not in log, p.tail("gateway", 60)
    # A blackholed link sends no reset: the gateway must notice it itself (keepalive).
    assert "broker connection lost" in gw.lost_during_cut, gw.lost_during_cut[-3000:]
    with gw.consumer.lock:
        statuses = [decode(GatewayStatus, s) for s in gw.consumer.statuses]
    assert any(s.state != "offline" for s in statuses[gw.statuses_at_restore :]), (
        "no status from the gateway after the link came back"
    )
    final = gw.final
    assert final is not None and final.state == "offline", "a clean stop publishes offline"
    m = final.metrics
    print(
        f"gateway: {m['samples_polled']:.0f} samples polled, {m['uplink_connects']:.0f} uplink"
        f" connections, {gw.link.refused_while_cut} connection attempts into the cut link"
    )
    assert m["uplink_connects"] >= 2 and gw.link.refused_while_cut >= 1
    assert m["buffer_samples"] == 0, "the buffer drained after the link came back"
    assert m["buffer_dropped_samples"] == 0 and m["buffer_write_errors"] == 0


def test_every_gateway_sample_stored_once_the_offline_ones_historical(chaos: ChaosRun) -> None:
    gw = chaos.gw
    assert gw is not None and gw.final is not None
    first: dict[tuple[str, datetime], tuple[bool, frozenset[str]]] = {}
    for asset, ts, historical, metrics in gw.arrived():
        first.setdefault((asset, ts), (historical, metrics))
    polled = int(gw.final.metrics["samples_polled"])
    assert len(first) == polled, f"{len(first)} of {polled} polled samples arrived"
    stored = _gateway_rows(chaos.dsn)
    assert set(stored) == set(first), (
        f"missing {sorted(set(first) - set(stored))[:3]}, "
        f"unexpected {sorted(set(stored) - set(first))[:3]}"
    )
    for key, (rows, distinct) in stored.items():
        assert rows == distinct, f"{key}: {rows - distinct} duplicated rows"
        assert distinct == len(first[key][1]), f"{key}: {distinct} of {len(first[key][1])} values"
    cut, back = gw.cut_at, gw.restored_at
    offline = {k: h for k, (h, _) in first.items() if cut + 0.3 < k[1].timestamp() < back - 0.3}
    assert offline and all(offline.values()), (
        f"{sum(not h for h in offline.values())} of {len(offline)} samples polled while "
        "cut off arrived without the historical flag"
    )
    live = [first[k][0] for k in gw.before_cut]
    assert live and not any(live), "samples that arrived before the cut are live"
    # It kept polling all through the cut (no stall waiting for the uplink).
    for asset in {a for a, _ in offline}:
        times = sorted(t.timestamp() for a, t in offline if a == asset)
        assert times[0] - cut < 3 and back - times[-1] < 3, asset
        assert max(b - a for a, b in itertools.pairwise(times)) < 3, asset
    with psycopg.connect(chaos.dsn) as conn:
        dead = conn.execute("select count(*) from dead_letters").fetchone()
    assert dead == (0,)
    print(f"gateway: {polled} samples, {len(offline)} polled while cut off, all historical")
