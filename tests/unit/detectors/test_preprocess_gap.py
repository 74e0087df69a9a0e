"""A silence (a site power cut: devices send nothing) counts as a restart and settles."""

from __future__ import annotations

import pickle
import random

from detectors.configuration import ClassConfig, PreprocessConfig, RunningRule
from detectors.preprocess import Preprocessor


def _pp(settle: int = 5) -> Preprocessor:
    rule = RunningRule(metric="running", above=0.5)
    return Preprocessor(ClassConfig(preprocess=PreprocessConfig(running=rule, settle=settle)))


def _feed(pp: Preprocessor, times: list[float]) -> list[bool]:
    out = []
    for t in times:
        pp.clean(t, {"running": 1.0, "temp": 7.0 + (t % 7) / 10})
        out.append(pp.running)
    return out


def test_a_power_cut_gap_settles_like_a_start() -> None:
    pp = _pp(settle=5)
    assert all(_feed(pp, [60.0 * i for i in range(30)]))
    # 15 minutes without a sample, then the devices come back already "running".
    after = _feed(pp, [60.0 * i for i in range(45, 55)])
    assert after == [False] * 5 + [True] * 5


def test_ordinary_jitter_and_short_dropouts_do_not_settle() -> None:
    pp = _pp(settle=5)
    times = [60.0 * i + (7 if i % 3 else 0) for i in range(40)]
    times += [60.0 * 43 + t for t in (0, 60, 120)]  # three samples missed: 4 intervals
    assert all(_feed(pp, times))


def test_checkpoint_from_before_the_gap_rule_still_works() -> None:
    pp = _pp(settle=3)
    _feed(pp, [60.0 * i for i in range(10)])
    del pp.__dict__["interval"]  # what an older pickle holds
    old = pickle.loads(pickle.dumps(pp))
    assert _feed(old, [600.0, 660.0, 3000.0, 3060.0, 3120.0, 3180.0]) == [
        True, True, False, False, False, True,
    ]  # fmt: skip


def _restarts(pp: Preprocessor, times: list[float]) -> int:
    n = 0
    for t in times:
        pp.clean(t, {"running": 1.0, "temp": 7.0 + (t % 7) / 10})
        n += pp.gap
    return n


def test_a_device_reporting_by_exception_is_not_restarting_all_the_time() -> None:
    """Intervals as a road-traffic feed sends them: mostly 10 min, often up to an hour, now
    and then a few hours. Against a mean interval, NAB's TravelTime_387 (2,499 intervals)
    read 97 silences as restarts, each a settle and a restart hold; against the quantile, 9."""
    rng = random.Random(4)
    t, times = 0.0, []
    for _ in range(2500):
        r = rng.random()
        t += 600 if r < 0.7 else rng.uniform(1800, 3600) if r < 0.95 else rng.uniform(2, 5) * 3600
        times.append(t)
    assert _restarts(_pp(), times) <= 5
    # a real power cut of two days is still a restart
    assert _restarts(_pp(), [*times, times[-1] + 2 * 86400.0]) >= 1 + _restarts(_pp(), times)


def test_a_lowered_publish_rate_is_learned_instead_of_settling_forever() -> None:
    pp = _pp(settle=5)
    _feed(pp, [60.0 * i for i in range(200)])
    slow = [20000.0 + 1800.0 * i for i in range(200)]  # the vendor now publishes every 30 min
    flags = []
    for t in slow:
        pp.clean(t, {"running": 1.0, "temp": 7.0})
        flags.append(pp.gap)
    assert flags[0] and not any(flags[100:])
    assert all(_feed(pp, [slow[-1] + 1800.0 * i for i in range(1, 20)]))
