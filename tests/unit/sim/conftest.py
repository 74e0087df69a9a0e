"""Small scenarios for simulator tests (kept coarse: 5-minute samples, a few days)."""

from __future__ import annotations

import pytest

from device_sim.classes import CLASSES
from device_sim.scenario import MODES_BY_CLASS, Scenario, parse_scenario

HEADER = """\
name: {name}
seed: {seed}
start: 2026-01-05T00:00:00Z   # a Monday
duration: 8d
sample_period_s: 300
stops_per_asset_day: {stops}
sensor_faults: {{dropouts_per_asset_day: {drops}, stuck_per_asset_day: {stuck}, mean_duration: 2h}}
sites: [{{id: s1, lat: 52.0, lon: 5.0, ambient_mean_c: 20, ambient_swing_c: 6}}]
"""


def healthy_scenario(
    seed: int = 7, stops: float = 0.3, drops: float = 0, stuck: float = 0
) -> Scenario:
    fleet = "fleet:\n" + "".join(
        f"  - {{site: s1, asset_class: {c}, count: 2, duty: {d}, prefix: {c[:4]}-{d[:2]}-}}\n"
        for c in CLASSES
        for d in ("continuous", "shift")
    )
    head = HEADER.format(name="healthy", seed=seed, stops=stops, drops=drops, stuck=stuck)
    return parse_scenario(head + fleet)


def degrading_scenario(shape: float = 1.0) -> tuple[Scenario, dict[tuple[str, str], str]]:
    """One continuous-duty asset per (class, mode); onset day 1, failure day 5."""
    fleet, degr, ids = ["fleet:"], ["degradations:"], {}
    for c, modes in MODES_BY_CLASS.items():
        for m in modes:
            prefix = f"{c[:4]}-{m[:4]}-"
            fleet.append(f"  - {{site: s1, asset_class: {c}, count: 1, prefix: {prefix}}}")
            ids[(c, m)] = f"{prefix}001"
            degr.append(
                f"  - {{asset: {prefix}001, mode: {m}, onset: 1d, failure_after: 4d, "
                f"shape: {shape}}}"
            )
    head = HEADER.format(name="degrading", seed=3, stops=0, drops=0, stuck=0)
    return parse_scenario(head + "\n".join(fleet + degr) + "\n"), ids


@pytest.fixture
def make_healthy():
    return healthy_scenario


@pytest.fixture
def make_degrading():
    return degrading_scenario
