"""Which metrics are judged on a wider scale because they roam (detectors/reference._wanders).

What each test tries: process noise that wanders for a few minutes beside a temperature that
follows a daily cycle, on a day-long reference and on a short one (SKAB's 400 rows), and a
leak on a pump whose flow and head carry such noise (bench/detectors_cases.physics_asset).
"""

from __future__ import annotations

import numpy as np

from bench.detectors_cases import rises_in
from detectors import load_config
from detectors.reference import _wanders
from tests.detectors_support import physics_alarms

HEALTH = load_config().for_class("default").health


def _metrics(n: int, seed: int = 5) -> np.ndarray:
    """Standardised columns: white noise, AR(1) noise (phi 0.8), a daily cycle with noise."""
    rng = np.random.default_rng(seed)
    white = rng.normal(0, 1, n)
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.8 * ar[i - 1] + rng.normal(0, 0.6)
    daily = np.sin(2 * np.pi * np.arange(n) / 1440) + rng.normal(0, 0.01, n)
    z = np.column_stack([white, ar, daily])
    return (z - z.mean(axis=0)) / z.std(axis=0)


def test_noise_that_stops_growing_is_not_roaming_on_a_day_long_reference() -> None:
    wander, _ = _wanders(_metrics(1440), HEALTH)
    assert wander[0] == 1.0  # the fastest metric
    assert wander[1] < 1.3, "AR noise the reference saw over and over is judged as noise"
    assert wander[2] > 5.0, "a daily cycle still roams"


def test_a_short_reference_keeps_widening_wandering_noise() -> None:
    """400 rows cannot tell noise that saturates from a slow roam beneath it."""
    wander, _ = _wanders(_metrics(400), HEALTH)
    assert wander[1] > 1.5
    off = HEALTH.model_copy(update={"wander_saturate": False})
    assert np.array_equal(wander, _wanders(_metrics(400), off)[0])


def test_a_leak_under_wandering_flow_noise_is_seen() -> None:
    """Asset 32018 of the second generator leaks over its last 2.5 days: flow -20 %, head
    -15 %, power +10 %. Its flow and head carry AR(1) process noise, which the roaming rule
    took for a slowly roaming metric and judged on about twice its spread: the 20 % flow
    loss read one healthy spread, the leak was taken for a lower load, and it was never
    seen (detector 2.7.0)."""
    alarms, onset = physics_alarms(32018, degrade=True)
    assert onset is not None
    assert rises_in(alarms, onset, len(alarms) - 1), "an alarm opens inside the leak"
