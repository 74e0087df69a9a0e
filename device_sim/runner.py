"""The clock: steps the fleet in real or accelerated time and hands frames to sinks.

Simulated time advances one sample period per step whatever the wall clock does, so a
slow machine makes a run late (reported), never different.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from device_sim.engine import Fleet, Frame

Sink = Callable[[Frame], None]


@dataclass
class RunStats:
    steps: int = 0
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    late_steps: int = 0
    max_lag_s: float = 0.0

    @property
    def speed(self) -> float:
        """Achieved simulated seconds per wall second."""
        return self.sim_seconds / self.wall_seconds if self.wall_seconds > 0 else float("inf")


async def run(
    fleet: Fleet,
    sinks: Sequence[Sink],
    *,
    steps: int,
    speed: float | None,
    stop: asyncio.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunStats:
    """Run ``steps`` steps at ``speed`` x real time (None: as fast as possible)."""
    period = fleet.scenario.sample_period_s
    stats = RunStats()
    t0 = time.monotonic()
    for k in range(steps):
        if stop is not None and stop.is_set():
            break
        frame = fleet.step()
        for sink in sinks:
            sink(frame)
        stats.steps += 1
        stats.sim_seconds += period
        if progress is not None and stats.steps % 100 == 0:
            progress(100)
        if speed is None:
            if k % 10 == 0:
                await asyncio.sleep(0)  # let servers answer
            continue
        delay = t0 + (k + 1) * period / speed - time.monotonic()
        if delay < 0:
            stats.late_steps += 1
            stats.max_lag_s = max(stats.max_lag_s, -delay)
        await asyncio.sleep(max(delay, 0.0))
    stats.wall_seconds = time.monotonic() - t0
    if progress is not None and stats.steps % 100:
        progress(stats.steps % 100)
    return stats
