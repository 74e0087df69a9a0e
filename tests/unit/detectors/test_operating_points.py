"""Operating points beyond the commissioning loads, on a machine that is not a straight line.

Pressure and a filter's pressure drop grow with the square of flow. Commissioned on low
loads only, the machine later runs at loads between two it has already been kept at: judged
against the nearer point, a quiet pressure reads a few sigmas off and the residual charts add
it up into a false alarm; interpolated between the two (detectors/operating.py) it does not.
Tried here with tag names no rule knows and the shipped defaults: loads between known points
(quiet; it alarms without the interpolation), a pressure that sags 4 % at such a load (still
alarms), and a restart after a two-hour stop at a load never seen while the ambient moved
(quiet: slow metrics count less when a step is judged).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

import numpy as np
from test_health_generalize import onsets

from detectors import AssetDetector, load_config
from detectors.operating import LoadCurve

SHIPPED = load_config().for_class("default")
TAGS = ("Q-17/flow", "P17.dis", "DP-17f", "I17", "TE17b", "TA17")
# a day on low loads (the commissioning), then loads beyond it and between those
LEVELS = (0.45, 0.55, 0.4, 0.5, 0.7, 1.0, 0.55, 0.85, 0.75, 0.95, 0.8, 0.9, 0.72, 0.98)
HOLD = 360  # rows at each load (six hours at one a minute)


def machine(
    levels: tuple[float, ...] = LEVELS,
    fault: Callable[[int, dict[str, float]], None] | None = None,
    stop: tuple[int, int] | None = None,
    seed: int = 5,
) -> Iterator[tuple[float, dict[str, float]]]:
    rng = random.Random(seed)
    temp = 50.0
    for i in range(HOLD * len(levels)):
        load = levels[i // HOLD]
        run = 0.0 if stop and stop[0] <= i < stop[1] else 1.0
        amb = 18 + 5 * math.sin(2 * math.pi * i / 1440)
        temp += (amb + run * (15 + 25 * load) - temp) / 20
        x = {
            TAGS[0]: run * 120 * load + rng.gauss(0, 0.8),
            TAGS[1]: run * (1 + 5 * load**2) + rng.gauss(0, 0.03),
            TAGS[2]: run * (0.2 + 0.6 * load**2) + rng.gauss(0, 0.005),
            TAGS[3]: run * (12 + 40 * load) + rng.gauss(0, 0.3),
            TAGS[4]: temp + rng.gauss(0, 0.1),
            TAGS[5]: amb + rng.gauss(0, 0.1),
        }
        if fault is not None:
            fault(i, x)
        yield i * 60.0, x


def alarms(cfg, rows: Iterator[tuple[float, dict[str, float]]]) -> tuple[list[int], AssetDetector]:
    det = AssetDetector("never-seen", cfg)
    return onsets([det.update(t, x) for t, x in rows]), det


def test_loads_between_known_operating_points_stay_quiet() -> None:
    quiet, det = alarms(SHIPPED, machine())
    assert quiet == [], quiet
    assert det.health.curve is not None and det.health.curve.points >= 2
    straight = load_config().with_values({"health.regime_interpolate": False}).for_class("default")
    loud, _ = alarms(straight, machine())
    assert loud and min(loud) > 4 * HOLD, "the case must be one nearest-point judging gets wrong"


def test_a_fault_at_a_load_between_known_points_still_alarms() -> None:
    start = 9 * HOLD  # at 0.95, after 0.7, 1.0 and 0.85 were kept

    def sag(i: int, x: dict[str, float]) -> None:
        if i >= start:  # discharge pressure sags 4 % over ten hours, the flow does not
            x[TAGS[1]] *= 1 - 0.04 * min(1.0, (i - start) / 600)

    seen, _ = alarms(SHIPPED, machine(fault=sag))
    assert seen and start < seen[0] < start + 3 * HOLD, seen


def test_a_restart_at_a_new_load_after_a_stop_stays_quiet() -> None:
    """Two hours stopped while the ambient moves, then a load below any seen: the step from
    before the stop is mostly load, the ambient's and the cooled bearing's share counts less."""
    levels = (0.6, 0.7, 0.65, 0.75, 0.7, 0.35, 0.4, 0.3)
    seen, det = alarms(SHIPPED, machine(levels, stop=(5 * HOLD - 120, 5 * HOLD)))
    assert seen == [], seen
    assert det.health.regimes_added >= 1


def test_offsets_interpolate_per_metric_and_stay_flat_beyond_the_outermost_point() -> None:
    dirs = np.array([[0.0, 1.0], [1.0, 0.0]])
    curve = LoadCurve(dirs, lo=np.array([-1.0, -1.0]), hi=np.array([1.0, 1.0]))
    curve.add(np.array([-4.0, -4.0]), np.array([1.0, -1.0]))
    curve.add(np.array([5.0, 5.0]), np.array([0.0, 4.0]))  # added out of order: sorted
    assert curve.points == 2
    assert np.allclose(curve.offset(np.array([3.0, 3.0])), [0.0, 2.0])
    assert np.allclose(curve.offset(np.array([-2.5, -2.5])), [0.5, -0.5])
    assert np.allclose(curve.offset(np.array([0.0, 0.0])), [0.0, 0.0])
    assert np.allclose(curve.offset(np.array([-40.0, 40.0])), [0.0, -1.0])  # each its own


def test_a_checkpoint_between_known_points_resumes_identically() -> None:
    rows = list(machine())
    whole = AssetDetector("never-seen", SHIPPED)
    expected = [whole.update(t, x).score for t, x in rows]
    cut = 9 * HOLD + 100  # two points kept, judging loads between them
    det = AssetDetector("never-seen", SHIPPED)
    first = [det.update(t, x).score for t, x in rows[:cut]]
    assert det.health.curve is not None and det.health.curve.points >= 2
    again = AssetDetector.loads(det.dumps())
    rest = [again.update(t, x).score for t, x in rows[cut:]]
    assert np.array_equal(np.array(first + rest), np.array(expected))
