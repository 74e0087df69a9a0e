"""Unit tests of the detector core: real models on synthetic streams, no DB or broker."""

from __future__ import annotations

import math
import random

import pytest

from detectors import AssetDetector, StateError, load_config
from detectors.alarm import AlarmPolicy
from detectors.configuration import AlarmConfig, DetectorConfig
from forewarn.errors import SettingsError

CONFIG = load_config()
PUMP = {  # the simulator's metric names, so the shipped class configuration applies
    "running": 1.0,
    "vib_x_mm_s": 2.0,
    "bearing_temp_c": 55.0,
    "flow_m3h": 100.0,
    "discharge_pressure_bar": 6.0,
    "strainer_dp_bar": 0.1,
    "current_l1_a": 30.0,
    "current_l2_a": 30.0,
    "current_l3_a": 30.0,
    "winding_temp_c": 70.0,
}
NOISE = {k: 0.02 * v for k, v in PUMP.items()}


def healthy(n: int, seed: int = 1, start: int = 0):
    rng = random.Random(seed)
    for i in range(start, start + n):
        load = 1.0 + 0.05 * math.sin(2 * math.pi * i / 1440)  # daily load cycle (1/min)
        x = {k: v * load + rng.gauss(0, NOISE[k]) for k, v in PUMP.items()}
        x["running"] = 1.0
        yield 60.0 * i, x


def run(det: AssetDetector, stream):
    return [det.update(t, x) for t, x in stream]


def degrade(stream, start: int, effect, ramp: int = 300):
    for i, (t, x) in enumerate(stream):
        if i >= start:
            effect(x, min(1.0, (i - start) / ramp), i)
        yield t, x


def test_healthy_asset_stays_silent_for_a_week():
    det = AssetDetector("p1", CONFIG.for_class("default"))
    steps = run(det, healthy(7 * 1440))
    assert not any(s.alarm for s in steps)
    assert all(0.0 <= s.score <= 1.0 for s in steps)


def _scale(x, **factors):
    for k, f in factors.items():
        x[k] *= f


MODES = {
    "bearing_wear": lambda x, f, i: (
        _scale(x, vib_x_mm_s=1 + 1.5 * f),
        x.__setitem__("bearing_temp_c", x["bearing_temp_c"] + 15 * f),
    ),
    "seal_leak": lambda x, f, i: _scale(
        x, flow_m3h=1 - 0.3 * f, discharge_pressure_bar=1 - 0.25 * f
    ),
    # a pump's blinded strainer: its dp up, less flow (device_sim's signature; the motor
    # then draws less, so current does not sign it on a pump)
    "clogged_filter": lambda x, f, i: _scale(x, strainer_dp_bar=1 + 2 * f, flow_m3h=1 - 0.15 * f),
    "winding_insulation": lambda x, f, i: (
        _scale(x, current_l1_a=1 + 0.2 * f, current_l2_a=1 - 0.1 * f),
        x.__setitem__("winding_temp_c", x["winding_temp_c"] + 25 * f),
    ),
    "cavitation": lambda x, f, i: _scale(
        x, vib_x_mm_s=1 + 0.8 * f * (1 if i % 2 else -0.6), discharge_pressure_bar=1 - 0.2 * f
    ),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_degradation_mode_alarms_with_complete_evidence(mode):
    det = AssetDetector("p1", CONFIG.for_class("centrifugal_pump"), site="s1", asset_class="pump")
    steps = run(det, degrade(healthy(4500), 3200, MODES[mode]))  # class warm-up: 2 days
    assert not any(s.alarm for s in steps[:3200]), "alarm before the onset"
    opened = [s.event for s in steps if s.event is not None and s.event.state == "open"]
    assert opened, f"{mode} never alarmed"
    assert opened[-1].fault_mode == mode  # the signature may need a while to become clear
    ev = opened[0]
    assert 0.5 <= ev.score <= 1.0 and ev.severity in ("warning", "critical")
    assert ev.site == "s1" and ev.asset == "p1" and ev.asset_class == "pump"
    assert ev.detector.name and ev.detector.version
    assert ev.detector.config_hash == CONFIG.for_class("centrifugal_pump").config_hash()
    assert 1 <= len(ev.contributors) <= 3
    assert abs(sum(c.weight for c in ev.contributors) - 1.0) < 1.0  # shares, not raw scores
    assert all(c.baseline is not None for c in ev.contributors)
    assert set(PUMP) - {"running"} <= set(ev.window) and len(ev.window["flow_m3h"]) == 60
    assert ev.event_id and ev.state == "open"


def test_slow_degradation_alarms_before_limit_with_time_to_limit():
    """Vibration creeping towards its ISO limit over two days: the baseline must not absorb it."""
    det = AssetDetector("p1", CONFIG.for_class("centrifugal_pump"))

    def creep(x, f, i):
        x["vib_x_mm_s"] += 5.0 * f  # 2.0 -> 7.0 mm/s, limit 7.1

    steps = run(det, degrade(healthy(8000), 3200, creep, ramp=4000))
    first = next(i for i, s in enumerate(steps) if s.alarm)
    assert 3200 < first < 6500, first  # alarmed well before the limit is near
    ev = next(s.event for s in steps if s.event)
    assert ev.time_to_limit_h is not None and ev.time_to_limit_h > 10
    assert any(c.metric == "vib_x_mm_s" for c in ev.contributors)
    assert steps[-1].alarm, "a persisting fault must keep the alarm latched"


def test_alarm_clears_with_hysteresis_after_the_fault_goes():
    det = AssetDetector("p1", CONFIG.for_class("default"))

    def leak(x, f, i):
        if i < 2200:
            x["flow_m3h"] *= 0.7

    steps = run(det, degrade(healthy(4000), 2000, leak, ramp=1))
    states = [s.event.state for s in steps if s.event]
    assert states[0] == "open" and "cleared" in states
    assert states.count("cleared") == 1  # no flapping after the fault
    assert not steps[-1].alarm


def test_checkpoint_restore_gives_identical_outputs():
    cfg = CONFIG.for_class("centrifugal_pump")
    stream = list(degrade(healthy(4500, seed=7), 3300, MODES["bearing_wear"]))
    straight = AssetDetector("p1", cfg)
    expected = run(straight, stream)
    first = AssetDetector("p1", cfg)
    got = run(first, stream[:3400])
    blob = first.dumps()
    assert isinstance(blob, bytes)
    resumed = AssetDetector.loads(blob)
    got += run(resumed, stream[3400:])
    assert [(s.score, s.alarm) for s in got] == [(s.score, s.alarm) for s in expected]
    assert [s.event for s in got] == [s.event for s in expected]


def test_corrupt_checkpoint_is_refused():
    with pytest.raises(StateError):
        AssetDetector.loads(b"not a pickle")


def test_bad_input_no_crash_no_alarm_storm():
    """NaN, inf, None, strings, missing metrics, a metric appearing mid-stream, duplicate and
    out-of-order timestamps, and a constant signal."""
    det = AssetDetector("p1", CONFIG.for_class("default"))
    rng = random.Random(3)
    steps = []
    for i in range(4000):
        x: dict[str, object] = {"flow": 30 + rng.gauss(0, 0.3), "const": 5.0}
        if i % 17 == 0:
            x["flow"] = float("nan")
        if i % 23 == 0:
            x["flow"] = None
        if i % 29 == 0:
            x["flow"] = "garbage"
        if i % 31 == 0:
            x["flow"] = float("inf")
        if i % 37 == 0:
            del x["flow"]
        if i >= 2000:
            x["late"] = 100 + rng.gauss(0, 1)  # appears mid-stream
        t = float(i)
        if i % 41 == 0:
            steps.append(det.update(t - 5, x))  # out of order
        steps.append(det.update(t, x))
        if i % 43 == 0:
            steps.append(det.update(t, x))  # duplicate
    assert sum(1 for s in steps if s.event is not None) == 0
    assert det.pre.dropped > 100
    assert "const" in det.pre.stuck


def test_empty_sample_and_all_nan():
    det = AssetDetector("p1", CONFIG.for_class("default"))
    assert det.update(1.0, {}).score == 0.0
    assert det.update(2.0, {"a": float("nan")}).alarm is False


def test_stopped_asset_is_not_scored_as_anomalous():
    det = AssetDetector("p1", CONFIG.for_class("centrifugal_pump"))

    def stop(x, f, i):
        if 3200 <= i < 3500:
            for k in x:
                x[k] = 0.0 if k != "bearing_temp_c" else 30.0

    steps = run(det, degrade(healthy(4500), 3200, stop, ramp=1))
    assert not any(s.alarm for s in steps)


def test_derived_imbalance_feeds_the_detector():
    det = AssetDetector("p1", CONFIG.for_class("electric_motor"))
    t, x = next(healthy(1))
    det.update(t, x)
    assert "current_imbalance" in det.features
    assert det.roles["current_imbalance"] == "current_imbalance"


def test_stuck_sensor_does_not_alarm():
    det = AssetDetector("p1", CONFIG.for_class("default"))

    def stuck(x, f, i):
        x["flow_m3h"] = 25.0  # frozen far from normal: a dead transmitter, not a leak

    steps = run(det, degrade(healthy(3000), 1500, stuck, ramp=1))
    assert "flow_m3h" in det.pre.stuck
    assert steps[-1].alarm is False


def test_single_spike_is_not_an_alarm():
    det = AssetDetector("p1", CONFIG.for_class("default"))

    def spike(x, f, i):
        if i == 1500:
            x["flow_m3h"] *= 3

    steps = run(det, degrade(healthy(2000), 1500, spike, ramp=1))
    assert not any(s.alarm for s in steps)


def test_no_fault_found_raises_the_bar_visibly():
    det = AssetDetector("p1", CONFIG.for_class("default"))
    before = det.alarm.on_threshold
    det.feedback("no_fault_found")
    det.feedback("no_fault_found")
    assert det.alarm.on_threshold == pytest.approx(before + 0.1)
    assert det.alarm.nff == 2
    for _ in range(20):
        det.feedback("no_fault_found")
    assert det.alarm.on_threshold <= before + 0.3 + 1e-9
    det.feedback("confirmed")
    assert det.alarm.confirmed == 1
    with pytest.raises(ValueError, match="unknown resolution"):
        det.feedback("maybe")


def test_alarm_policy_cooldown_blocks_immediate_reopen():
    ap = AlarmPolicy(AlarmConfig(warmup=0, k=1, n=1, clear_after=1, cooldown=5))
    seq = [ap.update(s) for s in (0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9)]
    assert seq[:2] == ["open", "cleared"]
    assert seq.index("open", 2) == 7


def test_config_errors_are_clear():
    with pytest.raises(SettingsError, match="off_threshold"):
        DetectorConfig({"defaults": {"alarm": {"on_threshold": 0.3, "off_threshold": 0.5}}})
    with pytest.raises(SettingsError, match="unknown"):
        DetectorConfig({"default": {}})
    with pytest.raises(SettingsError, match="nope"):
        DetectorConfig({"classes": {"x": {"health": {"nope": 1}}}})
    with pytest.raises(SettingsError, match="spare"):
        DetectorConfig({"classes": {"x": {"spare": {}}}}).for_class("x")
    with pytest.raises(SettingsError, match="exactly two inputs"):
        DetectorConfig(
            {"defaults": {"preprocess": {"derived": {"r": {"fn": "ratio", "inputs": ["a"]}}}}}
        )
    a, b = CONFIG.for_class("default"), CONFIG.override(warmup=400).for_class("default")
    assert a.config_hash() != b.config_hash()
    assert CONFIG.for_class("unknown_class") == a


def test_a_file_for_an_older_release_loads_and_says_what_it_ignores(monkeypatch, caplog):
    """The adaptive baseline's and drift member's sections (and the spike trees' weight) had
    stopped changing any score; an older file keeps loading, with one warning naming them."""
    import detectors.configuration as configuration

    monkeypatch.setattr(configuration, "_warned", set())
    old = {
        "robust": {"z_half": 3.0, "metric_warmup": 50},
        "drift": {"enabled": True, "threshold": 20.0},
        "hst": {"weight": 0.5},
    }
    with caplog.at_level("WARNING", logger="forewarn.detectors"):
        cfg = DetectorConfig({"classes": {"pump": old}}).for_class("pump")
        DetectorConfig({"classes": {"pump": old}}).for_class("pump")  # warned once
    retired = [r.getMessage() for r in caplog.records if "retired" in r.getMessage()]
    assert len(retired) == 2, retired  # the class's sections, and hst.weight
    assert "drift, robust ignored" in retired[0] + retired[1]
    assert "hst.weight ignored" in retired[0] + retired[1]
    assert cfg == DetectorConfig({"classes": {"pump": {}}}).for_class("pump")
    assert not hasattr(cfg, "robust") and not hasattr(cfg, "drift")


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults: [unclosed")
    with pytest.raises(SettingsError, match="yaml"):
        load_config(bad)
    with pytest.raises(SettingsError, match="file"):
        load_config(tmp_path / "missing.yaml")
