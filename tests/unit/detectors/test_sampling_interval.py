"""Counts set for one sample a minute, on a historian's coarser export (detectors/timing.py).

Before: on 10-minute means the warm-up lasted 50 hours and a load step was held for 20, and
the second generator's degradations were seen on none of ten assets (seeds 30000+)."""

from __future__ import annotations

import pytest

from detectors import AssetDetector, load_config
from detectors.replay import replay
from detectors.timing import retimed
from tests.detectors_support import frame_rows, openings, physics_frame

TEN_MIN = 10


def test_ten_minute_means_see_a_degradation_a_day_ahead_and_a_healthy_asset_stays_quiet():
    cfg = load_config().for_class("default")
    frame, onset = physics_frame(30006, degrade=True, every=TEN_MIN)
    assert onset is not None
    alarms = replay(frame, cfg, asset="x").alarms
    first = next(i for i, a in enumerate(alarms) if a)
    assert onset <= first <= len(alarms) - 1 - 24 * 60 // TEN_MIN  # a day before the end
    quiet, _ = physics_frame(30001, every=TEN_MIN)
    assert openings(replay(quiet, cfg, asset="y").alarms) == []


def test_the_detector_measures_its_interval_and_shortens_its_counts_to_the_same_time():
    frame, _ = physics_frame(30001, rows=3000, every=TEN_MIN)
    det = AssetDetector("x", load_config().for_class("default"))
    for t, x in frame_rows(frame):
        det.update(t, x)
    assert det.interval == 600.0
    assert det.cfg.health.regime_wait == 12 and det.cfg.alarm.warmup == 30
    assert det.health.frozen and det.health.cfg.regime_wait == 12


@pytest.mark.parametrize("seconds", [1.0, 60.0, 80.0])
def test_data_no_coarser_than_a_minute_keeps_every_count(seconds):
    cfg = load_config().for_class("default")
    assert retimed(cfg, seconds) is cfg


def test_a_warmup_given_on_purpose_stays_rows_and_a_cycle_counter_is_no_clock():
    given = load_config().override(warmup=400).for_class("default")
    assert retimed(given, 600.0).alarm.warmup == 400
    assert retimed(given, 600.0).health.regime_wait == 12
    det = AssetDetector("engine", given)
    for cycle in range(1, 60):  # one row per duty cycle: times 1, 2, 3, ...
        det.update(float(cycle), {"a": float(cycle % 7), "b": float(cycle % 5)})
    assert det.interval is None and det.cfg is given


def test_replay_says_what_interval_it_measured_and_that_it_retimed(tmp_path):
    from typer.testing import CliRunner

    from bench.detectors_cases import physics_asset
    from detectors.cli import app

    df, _ = physics_asset(30001, degrade=False, days=2.0)
    coarse = df.iloc[::TEN_MIN]  # one reading every ten minutes
    src, out = tmp_path / "export.csv", tmp_path / "out.csv"
    coarse.to_csv(src, index=False)
    res = CliRunner().invoke(app, ["replay", "--csv", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "sampling │ every 10 min, counts shortened to match │" in text
    df.iloc[:600].to_csv(src, index=False)
    res = CliRunner().invoke(app, ["replay", "--csv", str(src), "--out", str(out)])
    assert "sampling │ every 1 min │" in " ".join(res.output.split())
