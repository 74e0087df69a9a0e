"""The sim CLI through its real interface (Typer's runner)."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from device_sim.cli import app

runner = CliRunner()


def test_profiles_table_lists_every_profile():
    res = runner.invoke(app, ["profiles"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for name in (
        "acme_centrifugal_pump",
        "voltra_electric_motor",
        "boreas_air_compressor",
        "polar_chiller",
    ):
        assert name in res.output
    one = runner.invoke(app, ["profiles", "polar_chiller"], env={"COLUMNS": "200"})
    assert one.exit_code == 0 and "little/little" in one.output and "chw_flow_m3h" in one.output


def test_truth_export(tmp_path: Path):
    out = tmp_path / "truth.csv"
    res = runner.invoke(
        app, ["truth", "default", "--out", str(out), "--start", "2026-01-05T00:00:00Z"]
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    bearing = next(r for r in rows if r["mode"] == "bearing_wear")
    assert bearing["onset"] == "2026-01-06T00:00:00Z"
    assert bearing["functional_failure"] == "2026-01-10T00:00:00Z"


def test_bad_files_are_refused_with_line(tmp_path: Path):
    bad = tmp_path / "s.yaml"
    bad.write_text(
        "name: x\nsites: [{id: a, lat: 1, lon: 2}]\nfleet:\n"
        "  - {site: a, asset_class: windmill, count: 1}\n"
    )
    res = runner.invoke(app, ["truth", str(bad), "--out", str(tmp_path / "t.json")])
    assert res.exit_code == 2
    assert f"{bad}:4: fleet[0].asset_class" in res.output.replace("\n", "")
    assert not (tmp_path / "t.json").exists()
    res = runner.invoke(app, ["check", str(bad), "profiles/acme_centrifugal_pump.yaml"])
    assert res.exit_code == 2 and "ok" in res.output and "refused" in res.output


def test_run_generation_only():
    res = runner.invoke(
        app, ["run", "default", "--max", "--duration", "2m"], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0, res.output
    assert "120" in res.output  # steps at 1 s
