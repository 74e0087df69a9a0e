"""Scenarios: the built-in one loads; bad ones are refused with file, line, key, reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_sim.engine import Fleet
from device_sim.scenario import (
    ScenarioError,
    builtin_names,
    load_scenario,
    parse_duration,
    parse_scenario,
)
from device_sim.truth import write_truth

GOOD = """\
name: t
seed: 1
sites:
  - {id: a, lat: 1.0, lon: 2.0}
fleet:
  - {site: a, asset_class: centrifugal_pump, count: 2}
degradations:
  - {asset: a-P001, mode: cavitation, onset: 1h, failure_after: 2d}
faults:
  - {fault: trip, asset: a-P002, at: 30m, duration: 5m}
"""


def refuse(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    return info.value


def test_builtin_default_is_a_demo_fleet():
    assert "default" in builtin_names()
    sc = load_scenario("default")
    assets = sc.assets()
    assert 24 <= len(assets) <= 60
    assert {a.asset_class for a in assets} == {
        "centrifugal_pump",
        "electric_motor",
        "air_compressor",
        "chiller",
    }
    assert all(d.onset + d.failure_after <= 8 * 86400 for d in sc.degradations)


def test_good_scenario_ids_and_durations():
    sc = parse_scenario(GOOD)
    assert [a.id for a in sc.assets()] == ["a-P001", "a-P002"]
    assert sc.degradations[0].failure_after == 2 * 86400
    assert parse_duration("1d12h") == 129600 and parse_duration(90) == 90
    with pytest.raises(ValueError):
        parse_duration("3 fortnights")


@pytest.mark.parametrize(
    ("edit", "line", "key", "reason"),
    [
        (("centrifugal_pump", "turbine"), 6, "fleet[0].asset_class", "Input should be"),
        (("{site: a, asset", "{site: b, asset"), 6, "fleet[0].site", "unknown site 'b'"),
        (("mode: cavitation", "mode: melting"), 8, "degradations[0].mode", "Input should be"),
        (("asset: a-P001", "asset: a-P009"), 8, "degradations[0].asset", "unknown asset"),
        (("onset: 1h", "onset: soon"), 8, "degradations[0].onset", "not a duration"),
        (("lat: 1.0, ", ""), 4, "sites[0].lat", "missing required field"),
        (("lat: 1.0", "lat: 91"), 4, "sites[0].lat", "less than or equal to 90"),
        (("count: 2", "count: 0"), 6, "fleet[0].count", "greater than or equal to 1"),
        (("fault: trip, asset: a-P002", "fault: trip, site: a"), 10, "faults[0].site", "one asset"),
        (("seed: 1", "seed: 1\nseeed: 2"), 3, "seeed", "unknown field"),
    ],
)
def test_bad_scenarios_refused(edit, line, key, reason):
    err = refuse(GOOD.replace(*edit))
    assert (err.file, err.line, err.key) == ("s.yaml", line, key), str(err)
    assert reason in err.reason, str(err)


def test_mode_must_fit_the_class():
    err = refuse(GOOD.replace("centrifugal_pump", "electric_motor").replace("a-P00", "a-M00"))
    assert (
        err.key == "degradations[0].mode"
        and "electric_motor has no mode 'cavitation'" in err.reason
    )


def test_missing_file_and_duplicate_key(tmp_path: Path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "none.yaml")
    err = refuse(GOOD.replace("seed: 1", "seed: 1\nseed: 2"))
    assert (err.line, err.key, err.reason) == (3, "seed", "duplicate key")


def test_truth_export_csv_and_json(tmp_path: Path):
    fleet = Fleet(load_scenario("default"))
    events = fleet.truth()
    csv_path = write_truth(events, fleet.start, tmp_path / "t.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("asset,asset_class,site,kind,mode")
    assert len(lines) == len(events) + 1
    assert any("north-P003,centrifugal_pump,north,degradation,bearing_wear" in ln for ln in lines)
    import json

    doc = json.loads(write_truth(events, fleet.start, tmp_path / "t.json").read_text())
    first = next(e for e in doc["events"] if e["mode"] == "bearing_wear")
    assert first["onset_s"] == 86400 and first["functional_failure_s"] == 5 * 86400
