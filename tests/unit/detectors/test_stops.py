"""Which samples are a stop (detectors/health.HealthModel._stopped).

What each test tries, on the second regime generator's asset 41009 (tag names no rule knows,
shipped defaults): its 2 h stop from a low load, where flow, power, vibration and pressure
drop go to zero but the static head stays at a sixth of its running level and four slow
temperatures coast (four of nine metrics near zero, under the half the rule wants); and the
same running sample with two mechanical sensors reading zero, which is not a stop.
"""

from __future__ import annotations

from bench.detectors_cases import physics_asset
from detectors import AssetDetector, load_config
from tests.detectors_support import frame_rows, openings, physics_frame

SHIPPED = load_config().for_class("default")
STOP = 2822  # asset 41009 stops here for 120 rows


def test_a_stop_counts_the_fast_metrics_not_the_coasting_temperatures() -> None:
    frame, _ = physics_frame(41009, rows=STOP + 10)
    det = AssetDetector("x", SHIPPED)
    rows = list(frame_rows(frame))
    for t, x in rows[:STOP]:
        det.update(t, x)
    health = det.health
    before, during = rows[STOP - 1][1], rows[STOP + 5][1]
    assert not health.is_stopped(before)
    assert health.is_stopped(during)
    flow, _, _, vibration = frame.columns[:4]
    broken = {**before, flow: 0.0, vibration: 0.0}  # two sensors dead, still running
    assert not health.is_stopped(broken)


def test_the_stop_of_a_low_load_neither_alarms_nor_is_judged_as_a_step() -> None:
    df, _ = physics_asset(41009, degrade=False)
    assert df.iloc[STOP - 1, 1] > 20 and abs(df.iloc[STOP + 5, 1]) < 5, "the stop is where said"
    frame, _ = physics_frame(41009)
    det = AssetDetector("x", SHIPPED)
    alarms, held = [], []
    for i, (t, x) in enumerate(frame_rows(frame)):
        alarms.append(int(det.update(t, x).alarm))
        if STOP + 5 <= i < STOP + 115:  # inside the stop: a state, not a step being held
            # (a vibration's noise above a tenth of its level reads as a restart now and
            # then, which is settled, never scored: the same for the score)
            held.append(not det.health.scored and not det.health.pending)
    assert all(held)
    # detector 2.9.0 before weighting: an alarm 8 rows into the stop
    assert openings(alarms) == []
