"""The fleet benchmark's own logic: its scenario, its verdicts and its search."""

from __future__ import annotations

from typing import Any

from bench._fleet import Sample, _growth, _lag, scenario
from bench.fleet_scale import ladder
from device_sim import Fleet, parse_scenario


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
