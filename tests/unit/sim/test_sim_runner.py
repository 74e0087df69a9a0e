"""The clock: simulated timestamps advance by the sample period whatever the pace."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from device_sim import Fleet, load_scenario
from device_sim.runner import run


def test_accelerated_run_has_simulated_timestamps():
    sc = load_scenario("default").model_copy(update={"sample_period_s": 30.0})
    fleet = Fleet(sc)
    frames = []
    stats = asyncio.run(run(fleet, [frames.append], steps=40, speed=30.0 * 400))
    assert stats.steps == 40 and stats.sim_seconds == 1200.0
    assert [f.ts for f in frames] == [fleet.start + timedelta(seconds=30 * k) for k in range(40)]


def test_stop_event_ends_a_run_early():
    fleet = Fleet(load_scenario("default"))
    stop = asyncio.Event()
    seen = []

    def sink(frame):
        seen.append(frame.k)
        if frame.k == 4:
            stop.set()

    stats = asyncio.run(run(fleet, [sink], steps=1000, speed=None, stop=stop))
    assert stats.steps == 5 and seen == [0, 1, 2, 3, 4]
