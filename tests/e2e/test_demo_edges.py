"""``forewarn demo --edge sparkplug|opcua``: the demo's set of services, fed over the new edges.

The services and the edge's processes (simulator, and for OPC UA one gateway per site)
are started with the argument lists and environment the demo supervisor uses, as real
``forewarn`` processes against a broker of their own, and the fleet's telemetry must land
in TimescaleDB. Without the edge wiring (Sparkplug intake left off in ingest's
environment, or no gateways reading the OPC UA server) nothing is stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forewarn.demo_edges import ingest_env
from forewarn.supervisor import edge_children
from tests.pipeline_support import Pipeline, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SCENARIO = """
name: edge-{edge}
seed: 5
duration: {hours}h
sample_period_s: 60
batch_samples: 10
sites:
  - {{id: {edge}-a, lat: 50.0, lon: 8.0}}
  - {{id: {edge}-b, lat: 51.0, lon: 9.0}}
fleet:
  - {{site: {edge}-a, asset_class: centrifugal_pump, count: 1, prefix: {edge}-a-P}}
  - {{site: {edge}-b, asset_class: electric_motor, count: 1, prefix: {edge}-b-M}}
"""


@pytest.fixture
def services(
    request: Any, dsn: str, mosquitto_factory: Any, tmp_path: Path, monkeypatch: Any
) -> Iterator[tuple[str, Pipeline]]:
    edge = request.param
    monkeypatch.setenv("FOREWARN_RUN_DIR", str(tmp_path / "run"))
    broker = mosquitto_factory()  # its own: Sparkplug intake reads every group on its broker
    env = service_env(dsn, broker.url, f"demo-{edge}", **ingest_env(edge))
    p = Pipeline(env=env, logs=tmp_path)
    try:
        p.start_services()
        yield edge, p
    finally:
        p.stop()


@pytest.mark.parametrize("services", ["sparkplug", "opcua"], indirect=True)
def test_demo_edge_feeds_the_fleet_into_timescaledb(
    services: tuple[str, Pipeline], db: Any, tmp_path: Path
) -> None:
    edge, p = services
    # Sparkplug loses nothing (QoS 1 from the first birth): 3 h of minutes exactly. The OPC
    # UA gateways connect while the server starts, so its first frames may pass unseen.
    hours, speed = (3, 3600.0) if edge == "sparkplug" else (6, 1200.0)
    scn = tmp_path / "fleet.yaml"
    scn.write_text(SCENARIO.format(edge=edge, hours=hours))
    for child in edge_children(edge, str(scn), speed):
        p.background(child.name, *child.argv[3:])  # argv = python -m forewarn ...
    assets = (f"{edge}-a-P001", f"{edge}-b-M001")
    stored: dict[str, int] = {}
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        stored = dict(
            db.execute(
                "select asset, count(distinct time) from telemetry where asset = any(%s) group by 1",
                (list(assets),),
            ).fetchall()
        )
        if edge == "sparkplug" and all(stored.get(a) == hours * 60 for a in assets):
            break
        if edge == "opcua" and not p.alive("sim") and all(stored.get(a, 0) > 60 for a in assets):
            break
        time.sleep(0.5)
    logs = {n: p.tail(n, 10) for n in p.procs}
    if edge == "sparkplug":
        assert stored == {a: hours * 60 for a in assets}, logs
    else:
        assert set(stored) == set(assets) and min(stored.values()) > 60, (stored, logs)
    dead = db.execute(
        "select count(*) from dead_letters where topic like any(%s)",
        ([f"spBv1.0/{edge}-%", f"forewarn/v1/{edge}-%"],),
    ).fetchone()[0]
    assert dead == 0, logs
