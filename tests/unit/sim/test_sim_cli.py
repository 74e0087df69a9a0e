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


def test_high_speed_coarsens_the_sample_period():
    res = runner.invoke(
        app, ["run", "default", "--speed", "36000", "--duration", "2h"], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0, res.output
    assert "sampling every 300 s" in res.output
    assert " 24 " in res.output  # 2 h / 300 s steps


def test_export_history_for_replay(tmp_path: Path):
    import pandas as pd

    res = runner.invoke(
        app,
        [
            "export",
            "default",
            "--out",
            str(tmp_path),
            "--duration",
            "3d",
            "--sample-period",
            "600",
            "--asset",
            "north-P003",
            "--asset",
            "south-C001",
            "--start",
            "2026-01-05T00:00:00Z",
        ],
    )
    assert res.exit_code == 0, res.output
    pump = pd.read_csv(tmp_path / "north-P003.csv")
    assert list(pump.columns[:3]) == ["time", "running", "speed_rpm"]
    assert pump.columns[-1] == "label" and len(pump) == 3 * 144
    # bearing wear starts at day 1: label 0 before, 1 after
    assert pump["label"].iloc[:144].sum() == 0 and pump["label"].iloc[144:].all()
    assert pump["time"].iloc[144] == "2026-01-06T00:00:00Z"
    other = pd.read_csv(tmp_path / "south-C001.csv")
    assert other["label"].sum() == 0
    assert len(other) < 3 * 144  # rows during the south power cut are absent
    assert (tmp_path / "truth.csv").exists()
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        "north-P003.csv",
        "south-C001.csv",
        "truth.csv",
    ]
    bad = runner.invoke(app, ["export", "default", "--out", str(tmp_path), "--asset", "nope"])
    assert bad.exit_code == 2 and "unknown asset(s): nope" in bad.output


def test_accelerated_run_ends_now_not_in_the_future(tmp_path: Path):
    import json
    from datetime import UTC, datetime, timedelta

    truth = tmp_path / "t.json"
    before = datetime.now(UTC)
    res = runner.invoke(
        app,
        ["run", "default", "--speed", "36000", "--duration", "2h", "--truth-out", str(truth)],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    start = datetime.fromisoformat(json.loads(truth.read_text())["start"].replace("Z", "+00:00"))
    # ingest refuses samples from the future: the simulated 2 h end about when we started
    assert (
        before - timedelta(hours=2, seconds=5)
        <= start
        <= before - timedelta(hours=2) + timedelta(seconds=5)
    )
    explicit = runner.invoke(
        app,
        [
            "run",
            "default",
            "--max",
            "--duration",
            "1m",
            "--start",
            "2026-01-05T00:00:00Z",
            "--truth-out",
            str(truth),
        ],
    )
    assert explicit.exit_code == 0
    assert json.loads(truth.read_text())["start"] == "2026-01-05T00:00:00Z"
