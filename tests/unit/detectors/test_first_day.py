"""Load steps whose temperatures take hours to follow (detector 2.9.0).

What each test tries, on the second regime generator's assets (bench/detectors_cases.
physics_asset, tag names no rule knows, shipped defaults): a load step after five hours at
one load whose winding and oil temperatures take hours to follow, a small load step right
after the warm-up that moves only three metrics past three of a single load's noise (on
detector 2.8.0 each opened an alarm that stayed open until the end of the file, since a
commissioning learns nothing while its alarm is open), and a step to full load on the fifth
day, against the frozen reference.
"""

from __future__ import annotations

from detectors import AssetDetector, load_config
from tests.detectors_support import frame_rows, openings, physics_alarms, physics_frame

SHIPPED = load_config().for_class("default")


def test_a_first_day_step_is_kept_once_its_lagging_temperatures_arrive() -> None:
    # asset 30018: five hours near 30 % power, then about 18 %; 2.8.0 alarmed at row 506,
    # two hours in, while the winding temperature was still falling
    alarms, _ = physics_alarms(30018, rows=1800)
    assert openings(alarms) == []
    frame, _ = physics_frame(30018, rows=1800)
    det = AssetDetector("x", SHIPPED)
    held = longest = 0
    for t, x in frame_rows(frame):
        det.update(t, x)
        held = held + 1 if det.health.pending else 0
        longest = max(longest, held)
    health = SHIPPED.health
    assert health.regime_wait < longest <= health.regime_settle, "held on while it settled"


def test_a_small_first_day_step_is_a_step_not_a_fault() -> None:
    # asset 31015: power 29.5 -> 33 five minutes after the warm-up; 2.8.0 alarmed at row 312
    # and never closed (flow moved 2.7 of its noise's sigmas, vibration 2)
    alarms, _ = physics_alarms(31015, rows=1800)
    assert openings(alarms) == []


def test_a_step_to_full_load_after_the_first_day_waits_for_its_temperatures() -> None:
    """The same hold on a frozen reference: asset 30013 steps to full load on its fifth day,
    a load its reference saw least; 2.8.0 kept the step after two hours and alarmed at row
    6416 as the winding temperature went on rising. A hold still ends: never longer than
    ``regime_settle`` scored samples."""
    frame, _ = physics_frame(30013)
    det = AssetDetector("x", SHIPPED)
    alarms, held, longest = [], 0, 0
    for t, x in frame_rows(frame):
        alarms.append(int(det.update(t, x).alarm))
        if det.health.scored:  # a stop holds nothing; it only pauses a hold
            held = held + 1 if det.health.pending else 0
            longest = max(longest, held)
    assert openings(alarms) == []
    assert SHIPPED.health.regime_wait < longest <= SHIPPED.health.regime_settle
