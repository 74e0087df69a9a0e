"""The health outlook (detectors/outlook.py): index now, its trend, hours to the alarm bar.

Tried through HealthOutlook itself (the fit's arithmetic and its refusals) and through
AssetDetector (what is fed when, resets on a new reference, checkpoints, the event fields).
"""

from __future__ import annotations

import math
import random

import pytest
from test_detectors_core import CONFIG, healthy
from test_health_generalize import CFG, WARM, plant

from detectors import AssetDetector
from detectors.configuration import OutlookConfig
from detectors.outlook import HealthOutlook, Outlook
from forewarn.contract import AnomalyEvent, decode, encode
from forewarn.errors import ContractError


def sigmoid(y: float) -> float:
    return 1.0 / (1.0 + math.exp(-y))


def feed(ol: HealthOutlook, hours: float, score, every_min: float = 6.0, start: float = 0.0):
    n = round(hours * 60 / every_min)
    for i in range(n):
        h = start + i * every_min / 60
        ol.update(h * 3600.0, score(h))


def test_a_departure_growing_at_a_steady_rate_gives_the_right_time_to_threshold() -> None:
    ol = HealthOutlook(OutlookConfig(alpha=0.02, min_points=30))
    feed(ol, 24.0, lambda h: sigmoid(-3.0 + 0.08 * h))  # crosses 0.5 at h = 37.5
    now = 24.0 - 0.1
    o = ol.outlook(bar=0.5)
    assert o.time_to_threshold_h == pytest.approx(37.5 - now, rel=0.01)
    assert o.health == pytest.approx(1 - sigmoid(-3.0 + 0.08 * now), abs=1e-4)
    s = sigmoid(-3.0 + 0.08 * now)
    assert o.slope_per_day == pytest.approx(-s * (1 - s) * 0.08 * 24, rel=0.01)
    # a higher bar ("no fault found" raised it: health 0.4) is further away
    later = ol.time_to(0.4)
    assert later is not None and later > o.time_to_threshold_h


def test_a_linear_decline_of_the_index_is_forecast_early_never_late() -> None:
    """Straight down 0.01 an hour from 0.9: the log-odds line bends the wrong way for it, so
    the forecast comes early; it must not be late, and not absurdly early either."""
    ol = HealthOutlook(OutlookConfig(alpha=0.02, min_points=30))
    feed(ol, 25.0, lambda h: 0.1 + 0.01 * h)
    now = 25.0 - 0.1
    truth = (0.5 - (0.1 + 0.01 * now)) / 0.01  # 15.1 h
    ttt = ol.time_to(0.5)
    assert ttt is not None and 0.5 * truth < ttt <= truth


def test_at_or_under_the_bar_is_zero_hours() -> None:
    ol = HealthOutlook(OutlookConfig(alpha=0.02, min_points=30))
    feed(ol, 10.0, lambda h: 0.3 + 0.04 * h)  # score 0.696 now: health under 0.5
    assert ol.time_to(0.5) == 0.0


@pytest.mark.parametrize(
    "score",
    [lambda h: 0.2, lambda h: 0.02, lambda h: 0.4 - 0.01 * h],  # flat, flat at 0, improving
    ids=["flat", "flat-healthy", "improving"],
)
def test_flat_or_improving_gives_no_forecast(score) -> None:
    ol = HealthOutlook(OutlookConfig(alpha=0.02, min_points=30))
    feed(ol, 30.0, score)
    assert ol.time_to(0.5) is None
    assert ol.slope_per_day() is not None and ol.slope_per_day() >= -1e-9


def test_noise_does_not_produce_a_forecast() -> None:
    rng = random.Random(4)
    ol = HealthOutlook(OutlookConfig())
    seen = 0
    for i in range(20_000):  # two weeks at 1/min, a wandering noisy score
        ol.update(60.0 * i, min(0.45, max(0.0, 0.1 + rng.gauss(0, 0.08))))
        seen += ol.time_to(0.5) is not None
    assert seen == 0


def test_too_few_points_or_too_far_ahead_says_nothing() -> None:
    ol = HealthOutlook(OutlookConfig(alpha=0.02, min_points=120))
    feed(ol, 10.0, lambda h: sigmoid(-2.0 + 0.05 * h))  # 100 points
    assert ol.slope_per_day() is None and ol.time_to(0.5) is None
    assert ol.health is not None  # the index itself is known at once
    slow = HealthOutlook(OutlookConfig(alpha=0.02, min_points=30, horizon=3.0))
    feed(slow, 20.0, lambda h: sigmoid(-2.5 + 0.005 * h))  # the bar is 480 h away
    assert slow.slope_per_day() is not None and slow.time_to(0.5) is None


def test_a_detector_reports_nothing_before_its_reference_and_resets_on_a_new_one() -> None:
    det = AssetDetector("p1", CONFIG.for_class("default"))  # warm-up 300, repair settle 360
    stream = list(healthy(2700))
    for t, x in stream[:200]:
        det.update(t, x)
    assert det.outlook_now() == Outlook()  # warm-up: no reference, no index
    for t, x in stream[200:1700]:  # past the commissioning day, whose growth re-starts the fit
        det.update(t, x)
    o = det.outlook_now()
    assert o.health is not None and 0.0 <= o.health <= 1.0 and o.slope_per_day is not None
    assert o.time_to_threshold_h is None  # healthy
    assert det.outlook is not None and det.outlook.n > 0
    det.feedback("fixed", who="ticket 3")  # a repair: the reference is learned anew
    assert det.outlook_now() == Outlook() and det.outlook.n == 0
    for t, x in stream[1700:2300]:
        det.update(t, x)
        assert det.outlook_now() == Outlook()  # settling and re-learning: nothing
    for t, x in stream[2300:2500]:
        det.update(t, x)
    assert det.relearn is None and 0 < det.outlook.n < 200  # a new fit since the new reference
    assert det.outlook_now().health is not None
    assert det.rebaseline(stream[:400], "by command", "r.engineer")
    assert det.outlook.n == 0 and det.outlook_now().slope_per_day is None


def test_stops_feed_nothing() -> None:
    det = AssetDetector("never-seen", CFG)
    rows = list(plant(WARM + 600, stop=(WARM + 300, WARM + 420)))
    for t, x in rows[: WARM + 300]:
        det.update(t, x)
    assert det.outlook is not None
    n, h = det.outlook.n, det.outlook_now().health
    for t, x in rows[WARM + 300 : WARM + 420]:
        det.update(t, x)
        assert det.health.stopped
    assert det.outlook.n == n and det.outlook_now().health == h


def test_healthy_load_steps_and_a_stop_never_forecast() -> None:
    """Unseen tag names, load steps to levels the commissioning never saw, a 2 h stop."""
    for seed, stop in ((3, None), (11, (3000, 3120))):
        det = AssetDetector("never-seen", CFG)
        for t, x in plant(6000, seed=seed, stop=stop):
            det.update(t, x)
            assert det.outlook_now().time_to_threshold_h is None, (seed, t)


def test_a_slow_drift_is_forecast_before_the_alarm_and_the_event_carries_the_outlook() -> None:
    rng = random.Random(9)
    det = AssetDetector("never-seen", CFG)
    forecasts: list[tuple[float, float]] = []
    opened = None
    for i in range(WARM + 1200):
        day = math.sin(2 * math.pi * i / 1440)
        ramp = min(1.0, max(0.0, (i - WARM) / 1000))
        x = {
            "QQ_vib": 2.0 * (1 + 0.1 * day) * (1 + 0.75 * ramp) + rng.gauss(0, 0.1),
            "QQ_tmp": 45 + 4 * day + 6 * ramp + rng.gauss(0, 0.3),
        }
        step = det.update(i * 60.0, x)
        if step.event is not None and step.event.state == "open":
            opened = step.event
            break
        ttt = det.outlook_now().time_to_threshold_h
        if ttt is not None:
            forecasts.append((i * 60.0, ttt))
    assert opened is not None and forecasts
    alarm_t = opened.ts.timestamp()
    # the index moves late (it is the alarm input): the first forecast came half an hour
    # or more ahead, and none said more than twice the time there really was
    assert (alarm_t - forecasts[0][0]) / 3600 > 0.5
    assert all(ttt <= 2 * (alarm_t - t) / 3600 + 0.1 for t, ttt in forecasts)
    assert opened.health is not None and opened.health <= 0.5
    assert opened.time_to_threshold_h == 0.0  # at the bar when the latch opened
    assert decode(AnomalyEvent, encode(opened)) == opened


def test_checkpoint_keeps_the_outlook_and_an_old_pickle_without_one_still_runs() -> None:
    det = AssetDetector("p1", CONFIG.for_class("default"))
    stream = list(healthy(1600, seed=2))
    for t, x in stream[:1200]:
        det.update(t, x)
    twin = AssetDetector.loads(det.dumps())
    for t, x in stream[1200:]:
        det.update(t, x)
        twin.update(t, x)
        assert twin.outlook_now() == det.outlook_now()
    assert det.outlook_now().slope_per_day is not None
    del det.__dict__["outlook"]  # as a detector pickled before the outlook existed
    old = AssetDetector.loads(det.dumps())
    assert old.outlook is None and old.outlook_now() == Outlook()
    for t, x in healthy(10, seed=2, start=1600):
        old.update(t, x)
    assert old.outlook is not None and old.outlook_now().health is not None


def test_the_contract_fields_are_optional_and_bounded() -> None:
    base = {
        "event_id": "e1",
        "site": "s",
        "asset": "a",
        "ts": "2026-11-23T10:00:00Z",
        "detector": {"name": "d", "version": "1", "config_hash": "h"},
        "score": 0.9,
        "severity": "warning",
    }
    old = decode(AnomalyEvent, base)  # a v1 message from before: still valid
    assert old.health is None and old.time_to_threshold_h is None
    new = decode(AnomalyEvent, {**base, "health": 0.42, "time_to_threshold_h": 6.5})
    assert (new.health, new.time_to_threshold_h) == (0.42, 6.5)
    for bad in ({"health": 1.5}, {"health": -0.1}, {"time_to_threshold_h": -1}):
        with pytest.raises(ContractError) as err:
            decode(AnomalyEvent, {**base, **bad})
        assert next(iter(bad)) in str(err.value)
