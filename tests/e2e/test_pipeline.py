"""End to end, through real processes: simulator → Mosquitto → ingest → TimescaleDB,
detectors → anomaly events → ticketing → one predictive ticket, routed to an engineer.

Each service runs as its own ``forewarn <service> run`` process against this session's
database and broker, exactly as ``forewarn demo`` starts them.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from forewarn.testing import Broker
from tests.pipeline_support import Pipeline, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SCENARIO = """
name: e2e
seed: {seed}
duration: 6d
sample_period_s: 60
batch_samples: 30
sites:
  - {{id: e2e{seed}, lat: 50.0, lon: 8.0}}
fleet:
  - {{site: e2e{seed}, asset_class: centrifugal_pump, count: 2, prefix: p{seed}-}}
degradations:
  - {{asset: p{seed}-001, mode: bearing_wear, onset: 2d12h, failure_after: 3d}}
"""


@pytest.fixture
def pipeline(dsn: str, broker: Broker, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(env=service_env(dsn, broker.url, f"e2e{os.getpid()}"), logs=tmp_path)
    try:
        p.start_services()
        yield p
    finally:
        p.stop()


def test_injected_fault_opens_exactly_one_ticket_and_healthy_asset_none(
    pipeline: Pipeline, dsn: str, tmp_path: Path
) -> None:
    seed = 11
    scenario = tmp_path / "e2e.yaml"
    scenario.write_text(SCENARIO.format(seed=seed))
    truth = tmp_path / "truth.csv"
    pipeline.cli("sim", "run", str(scenario), "--mqtt", "--max", "--truth-out", str(truth))
    token = pipeline.cli("tickets", "token", "create", "e2e-check", "--role", "admin").split()[-1]
    faulty, healthy = f"p{seed}-001", f"p{seed}-002"

    # Every sample reaches the hypertable: 6 days at one sample a minute, per asset.
    deadline = time.monotonic() + 90
    tickets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            stored = dict(
                conn.execute(
                    "select asset, count(distinct time) from telemetry where asset like %s group by 1",
                    (f"p{seed}-%",),
                ).fetchall()
            )
        tickets = pipeline.tickets(token, f"p{seed}-")
        if stored.get(healthy) == 6 * 24 * 60 and tickets:
            break
        time.sleep(1)
    assert stored.get(healthy) == 6 * 24 * 60, stored
    time.sleep(3)  # let any late anomaly land before counting tickets
    tickets = pipeline.tickets(token, f"p{seed}-")

    assert [t["asset"] for t in tickets] == [faulty], (
        f"tickets: {tickets}\n--- detectors ---\n{pipeline.tail('detectors')}"
    )
    ticket = tickets[0]
    assert ticket["source"] == "predictive"
    assert ticket["fault_mode"] in ("bearing_wear", "unknown")
    with psycopg.connect(dsn) as conn:
        opened_sim = conn.execute(
            "select min(time) from anomalies where asset = %s and state = 'open'", (faulty,)
        ).fetchone()
        stored_faulty = conn.execute(
            "select count(*) from telemetry where asset = %s", (faulty,)
        ).fetchone()
    assert opened_sim and opened_sim[0] is not None and stored_faulty and stored_faulty[0] > 0
    # Alarmed before the functional failure that the simulator's ground truth records.
    rows = list(csv.DictReader(truth.open()))
    failure = next(
        datetime.fromisoformat(r["functional_failure"].replace("Z", "+00:00"))
        for r in rows
        if r["asset"] == faulty and r["kind"] == "degradation"
    )
    lead_h = (failure - opened_sim[0]).total_seconds() / 3600
    print(f"first alarm {lead_h:.1f} simulated hours before functional failure")
    assert lead_h > 0
