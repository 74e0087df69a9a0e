"""The fleet benchmark's own logic: its scenario, its verdicts and its search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench._fleet import SITES, Sample, _growth, _lag, scenario
from bench.fleet_scale import ladder
from device_sim import Fleet, parse_scenario
from forewarn.demo_edges import demo_edge, ingest_env, opcua_gateways
from gateway import load as load_gateway


def _window(lags: list[float]) -> list[Sample]:
    return [
        Sample(t=5.0 * i, telemetry_lag_s=v, detector_lag_s=v, ingest_pending=0,
               ingest_messages=i, broker_stored=int(v * 100), gateway_buffer=0, cpu={})
        for i, v in enumerate(lags)
    ]  # fmt: skip


def test_scenario_degrades_pumps_that_exist_in_the_fleet() -> None:
    sc = parse_scenario(scenario(80, 300, 3))
    fleet = Fleet(sc)
    assets = {a.id for a in fleet.assets}
    assert len(assets) == 80
    assert sc.sample_period_s == 1
    degrading = [d.asset for d in sc.degradations]
    assert len(degrading) == 3 and set(degrading) <= assets


def test_flat_lag_passes_and_growing_lag_fails() -> None:
    flat = _lag(_window([0.5, 0.6, 0.4, 0.5, 0.7, 0.5, 0.6, 0.5, 0.4, 0.6]), "telemetry_lag_s")
    assert flat["ok"] and flat["max"] == 0.7
    growing = _lag(_window([1.0 + 2 * i for i in range(10)]), "telemetry_lag_s")
    assert not growing["ok"] and growing["end"] > growing["start"]
    assert _growth(_window([float(i) for i in range(10)]), "broker_stored") > 0


def test_ladder_stops_at_the_first_failure_and_bisects() -> None:
    tried: list[int] = []

    def probe(n: int) -> dict[str, Any]:
        tried.append(n)
        return {"fleet": n, "sustained": n <= 500}

    best, results = ladder([200, 400, 800, 1600], probe)
    assert tried == [200, 400, 800, 600]
    assert best == 400 and len(results) == 4


def test_edges_turn_on_what_ingest_and_the_gateways_need(tmp_path: Path) -> None:
    """Sparkplug needs intake on in ingest's environment; OPC UA one gateway config per
    site reading every asset of that site from the simulator's server, each with its own
    buffer. A misspelt edge is refused, not run as Modbus."""
    assert ingest_env("sparkplug") == {"FOREWARN_SPARKPLUG__ENABLED": "true"}
    assert ingest_env("modbus") == {} and ingest_env("opcua") == {}
    with pytest.raises(ValueError, match="spark"):
        ingest_env("spark")
    scn = tmp_path / "fleet.yaml"
    scn.write_text(scenario(16, 60, 2))
    paths = opcua_gateways(scn, tmp_path, 48401, sampling_interval_ms=1000.0)
    assert set(paths) == set(SITES)
    fleet = Fleet(parse_scenario(scn.read_text()))
    buffers = set()
    for site, path in paths.items():
        cfg = load_gateway(path)
        (server,) = cfg.opcua
        assert server.url == "opc.tcp://127.0.0.1:48401/forewarn/"
        assert server.mode == "subscribe" and server.sampling_interval_ms == 1000.0
        assert {a.asset for a in server.assets} == {a.id for a in fleet.assets if a.site == site}
        buffers.add(cfg.buffer_path)
    assert len(buffers) == 2  # two gateways never share one SQLite buffer


def test_demo_edges_feed_the_fleet_over_sparkplug_or_opcua(tmp_path: Path) -> None:
    """The demo's simulator publishes over the chosen edge; OPC UA adds one gateway per
    site of the scenario, reading the port the simulator serves. Modbus (which needs the
    simulator's device map first) and misspelt edges are refused."""
    spb = demo_edge("sparkplug", "demo", 3600, tmp_path)
    assert list(spb) == ["sim"] and spb["sim"][-1] == "--sparkplug"
    ua = demo_edge("opcua", "default", 3600, tmp_path)
    port = ua["sim"][ua["sim"].index("--opcua-port") + 1]
    assert set(ua) == {"sim", "gateway-north", "gateway-south"}
    for site in ("north", "south"):
        cfg = load_gateway(ua[f"gateway-{site}"][-1])
        assert cfg.opcua[0].url == f"opc.tcp://127.0.0.1:{port}/forewarn/"
        assert cfg.opcua[0].sampling_interval_ms == 0.0  # every accelerated write reported
    for bad in ("modbus", "zigbee"):
        with pytest.raises(ValueError, match=bad):
            demo_edge(bad, "demo", 3600, tmp_path)
