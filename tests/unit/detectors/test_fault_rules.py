"""Fault-mode rules per asset class: a class says what its own faults do and which it cannot
suffer (issue 13's demo: a compressor with a clogging filter was ticketed "cavitation")."""

from __future__ import annotations

import random

import pytest

from detectors import AssetDetector, load_config
from detectors.configuration import DetectorConfig, SettingsError
from detectors.faults import suspect

COMPRESSOR_METRICS = (
    "vib_x_mm_s", "bearing_temp_c", "discharge_temp_c", "filter_dp_mbar",
    "inlet_pressure_bar", "discharge_pressure_bar", "current_l1_a", "current_l3_a",
)  # fmt: skip


def _name(cls: str, z: dict[str, float]) -> str | None:
    cfg = load_config().for_class(cls)
    return suspect(cfg.faults, {m: cfg.role_of(m) for m in z}, z, {})


def test_a_class_rule_replaces_the_default_rule_and_null_drops_a_mode() -> None:
    cfg = DetectorConfig(
        {
            "defaults": {"faults": {"leak": {"flow": "down", "pressure": "down"},
                                    "cavitation": {"vibration": "up"}}},
            "classes": {"fan": {"faults": {"leak": {"pressure": "down"}, "cavitation": None}}},
        }
    )  # fmt: skip
    fan = cfg.for_class("fan").faults
    assert fan == {"leak": {"pressure": "down"}}  # not {flow, pressure}: roles are not merged
    assert set(cfg.for_class("default").faults) == {"leak", "cavitation"}


def test_a_bad_direction_in_a_class_rule_is_refused_with_its_place() -> None:
    with pytest.raises(SettingsError) as err:
        DetectorConfig({"classes": {"fan": {"faults": {"leak": {"pressure": "sideways"}}}}})
    assert "classes.fan.faults.leak.pressure" in str(err.value)


def test_a_clogging_compressor_intake_is_a_clogged_filter_never_cavitation() -> None:
    z = dict.fromkeys(COMPRESSOR_METRICS, 0.0)
    # the demo's signature: filter dp far up, inlet pressure down with it, the motor working
    # a little harder, vibration up a little: the generic rules said "cavitation"
    z |= {"filter_dp_mbar": 30.0, "inlet_pressure_bar": -22.0, "current_l1_a": 2.6,
          "vib_x_mm_s": 3.1, "discharge_temp_c": 3.5}  # fmt: skip
    assert _name("air_compressor", z) == "clogged_filter"
    assert "cavitation" not in load_config().for_class("air_compressor").faults
    leak = dict.fromkeys(COMPRESSOR_METRICS, 0.0) | {"discharge_pressure_bar": -26.0}
    assert _name("air_compressor", leak | {"filter_dp_mbar": 3.0, "current_l3_a": 2.8}) == (
        "seal_leak"
    )


def test_pump_and_chiller_rules_follow_their_physics() -> None:
    pump = {"strainer_dp_bar": 4.9, "suction_pressure_bar": -3.0, "discharge_pressure_bar": 0.5}
    assert _name("centrifugal_pump", pump) == "clogged_filter"  # the generic rule wants current up
    cav = {"vib_x_mm_s": 4.3, "suction_pressure_bar": -3.4, "strainer_dp_bar": -0.9}
    assert _name("centrifugal_pump", cav) == "cavitation"
    no_suction = {"vib_x_mm_s": 4.3, "discharge_pressure_bar": -3.4, "flow_m3h": 0.5}
    assert _name("centrifugal_pump", no_suction) == "cavitation"  # the discharge shows it
    refrigerant = {"suction_pressure_bar": -4.0, "chw_supply_temp_c": 3.4, "vib_x_mm_s": 0.2}
    assert _name("chiller", refrigerant) == "seal_leak"
    strainer = {"strainer_dp_bar": 12.1, "chw_flow_m3h": -3.1, "chw_supply_temp_c": 0.5}
    assert _name("chiller", strainer) == "clogged_filter"
    motor = load_config().for_class("electric_motor").faults
    assert set(motor) == {"bearing_wear", "winding_insulation"}


def test_a_noisy_rule_is_judged_on_how_rough_a_metric_moves_now() -> None:
    """``noisy`` was documented but the detector never measured it, so such a rule could
    not match; now it is the recent one-sample steps against the reference's."""
    rules = {"cavitation": {"vibration": "noisy", "pressure": "down"},
             "seal_leak": {"flow": "down", "pressure": "down"}}  # fmt: skip
    roles = {"vibration": ["vib"], "pressure": ["press"], "flow": ["flow"]}
    cfg = DetectorConfig({"defaults": {"faults": rules, "roles": roles}}).override(warmup=500)
    det = AssetDetector("p", cfg.for_class("default"))
    rng = random.Random(5)
    opened = []
    for i in range(1600):
        f = min(1.0, max(0.0, (i - 900) / 200))
        x = {
            "vib_rms": 2.0 + rng.gauss(0, 0.05 + 0.5 * f),  # same mean, ten times rougher
            "press_out": 5.0 * (1 - 0.08 * f) + rng.gauss(0, 0.03),
            "flow_q": 100 + rng.gauss(0, 1.0),
            "temp_b": 50 + rng.gauss(0, 0.2),
        }
        step = det.update(60.0 * i, x)
        if step.event is not None and step.event.state == "open":
            opened.append(step.event)
    named = [e.fault_mode for e in opened if e.fault_mode]
    assert opened and named and named[-1] == "cavitation"
