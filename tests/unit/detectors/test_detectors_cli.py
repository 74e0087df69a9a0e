"""The replay CLI through its real interface (Typer runner), on generated CSV files."""

from __future__ import annotations

import csv
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from detectors.cli import app

runner = CliRunner()
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def write(path, n=1500, fault=(1000, 1300), seed=5, sep=","):
    rng = random.Random(seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, delimiter=sep)
        w.writerow(["datetime", "flow", "Pressure bar", "temp", "anomaly"])
        for i in range(n):
            bad = fault[0] <= i < fault[1]
            flow = 30 + rng.gauss(0, 0.3) - (5 if bad else 0)
            w.writerow(
                [
                    (T0 + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S"),
                    f"{flow:.3f}",
                    f"{6 + rng.gauss(0, 0.05) - (0.8 if bad else 0):.3f}",
                    f"{60 + 2 * math.sin(i / 300):.3f}",
                    int(bad),
                ]
            )
    return path


def rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_replay_writes_one_row_per_input_row_and_scores_labels(tmp_path):
    src = write(tmp_path / "in.csv", sep=";")
    out, png = tmp_path / "out.csv", tmp_path / "plot.png"
    res = runner.invoke(
        app,
        ["replay", "--csv", str(src), "--sep", ";", "--label-column", "anomaly",
         "--out", str(out), "--plot", str(png)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    got = rows(out)
    assert len(got) == 1500
    assert list(got[0]) == ["time", "score", "alarm"]
    assert all(0.0 <= float(r["score"]) <= 1.0 and r["alarm"] in ("0", "1") for r in got)
    alarms = [int(r["alarm"]) for r in got]
    assert sum(alarms[1000:1300]) > 200 and sum(alarms[:1000]) == 0
    for figure in ("faults detected", "1 of 1", "point-wise F1", "FAR", "MAR", "asset-day"):
        assert figure in res.output
    assert png.stat().st_size > 10_000


def test_replay_is_strictly_causal(tmp_path):
    """Changing rows after row 1100 must not change any output up to row 1100."""
    a = write(tmp_path / "a.csv", seed=5)
    b = tmp_path / "b.csv"
    lines = a.read_text().splitlines()
    rng = random.Random(9)
    changed = lines[:1102] + [
        ",".join([ln.split(",")[0], f"{rng.uniform(0, 100):.3f}", "nan", "1e9", "0"])
        for ln in lines[1102:]
    ]
    b.write_text("\n".join(changed) + "\n")
    outs = []
    for src in (a, b):
        out = tmp_path / f"out-{src.stem}.csv"
        res = runner.invoke(app, ["replay", "--csv", str(src), "--out", str(out)])
        assert res.exit_code == 0, res.output
        outs.append(rows(out))
    assert outs[0][:1101] == outs[1][:1101]
    assert outs[0][1101:] != outs[1][1101:]  # the change did reach the later outputs


def test_replay_selects_columns_and_config(tmp_path):
    src = write(tmp_path / "in.csv")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("defaults:\n  alarm: {warmup: 100, k: 1, n: 1}\n")
    out = tmp_path / "out.csv"
    res = runner.invoke(
        app,
        ["replay", "--csv", str(src), "--columns", "flow", "--time-column", "datetime",
         "--config", str(cfg), "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "flow" in res.output and "Pressure" not in res.output
    assert len(rows(out)) == 1500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--csv", "missing.csv"], "file not found"),
        (["--columns", "nope"], "no column(s) nope"),
        (["--label-column", "nope"], "no column(s) nope"),
        (["--columns", "datetime"], "no numeric metric columns"),
        (["--config", "bad.yaml"], "invalid settings"),
    ],
)
def test_replay_bad_input_gets_a_clear_error(tmp_path, monkeypatch, args, message):
    """Bad input tried: missing file, unknown metric/label column, non-numeric column,
    invalid configuration file."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "in.csv", n=50)
    (tmp_path / "bad.yaml").write_text("defaults:\n  alarm: {k: 9, n: 2}\n")
    base = {"--csv": "in.csv", "--out": "out.csv"}
    extra = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["replay"] + [x for kv in {**base, **extra}.items() for x in kv]
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())
    assert not (tmp_path / "out.csv").exists()


def test_replay_without_time_column_uses_row_numbers(tmp_path):
    src = tmp_path / "plain.csv"
    src.write_text("value\n" + "\n".join(str(1.0 + (i % 3)) for i in range(400)) + "\n")
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["replay", "--csv", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert rows(out)[-1]["time"] == "399"


@pytest.mark.parametrize("asset_class", [None, "centrifugal_pump"])
def test_a_given_warmup_wins_over_the_class_warmup(tmp_path, asset_class):
    """A short history replayed with ``--warmup 40`` and a known class: the class's own
    two-day warm-up used to win, so nothing ever alarmed (0 of 100 run-to-failure engines)."""
    src = write(tmp_path / "short.csv", n=200, fault=(120, 200))
    out = tmp_path / "out.csv"
    args = ["replay", "--csv", str(src), "--warmup", "40", "--out", str(out)]
    res = runner.invoke(app, args + (["--asset-class", asset_class] if asset_class else []))
    assert res.exit_code == 0, res.output
    alarms = [int(r["alarm"]) for r in rows(out)]
    assert sum(alarms[:120]) == 0 and sum(alarms[120:]) > 40


def test_replay_lists_each_alarm_episode_with_the_metrics_that_opened_it(tmp_path):
    """The flow drop of rows 1000-1300 is one episode: opened at it, cleared after it, and
    flow first among the metrics; a quiet file lists none."""
    src, out, eps = write(tmp_path / "in.csv"), tmp_path / "out.csv", tmp_path / "eps.csv"
    res = runner.invoke(
        app, ["replay", "--csv", str(src), "--out", str(out), "--episodes", str(eps)]
    )
    assert res.exit_code == 0, res.output
    assert "alarm episodes (1)" in res.output
    (row,) = rows(eps)
    opened = datetime.fromisoformat(row["opened"])
    cleared = datetime.fromisoformat(row["cleared"])
    assert T0 + timedelta(seconds=1000) <= opened < T0 + timedelta(seconds=1060)
    assert T0 + timedelta(seconds=1300) <= cleared
    assert row["metrics"].startswith("flow ") and "centre 30" in row["metrics"].split(",")[0]
    quiet = write(tmp_path / "quiet.csv", fault=(0, 0))
    res = runner.invoke(
        app, ["replay", "--csv", str(quiet), "--out", str(out), "--episodes", str(eps)]
    )
    assert res.exit_code == 0, res.output
    assert "alarm episodes (" not in res.output and rows(eps) == []


def write_fleet(path, lengths=(160, 190, 150), degrade=(True, True, False), seed=3):
    """A run-to-failure file: one row per cycle and unit; a degrading unit's first sensor
    climbs over its last 50 cycles (the last row is the failure)."""
    rng = random.Random(seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit", "cycle", "s1", "s2", "s3"])
        for u, (n, bad) in enumerate(zip(lengths, degrade, strict=True), start=1):
            for c in range(1, n + 1):
                wear = max(0, c - (n - 50)) * 0.12 if bad else 0.0
                w.writerow([u, c, f"{10 + wear + rng.gauss(0, 0.2):.3f}",
                            f"{5 + rng.gauss(0, 0.1):.3f}", f"{1 + rng.gauss(0, 0.05):.3f}"])  # fmt: skip
    return path


def test_a_fleet_file_names_each_units_rows_and_episodes(tmp_path):
    """Three machines in one file, counted in cycles: the output and the episodes say which
    unit each row and episode belongs to, an opening is named by its cycle (not a 1970 date),
    its length counted in rows, and the summary counts the units in alarm at their last row."""
    src = write_fleet(tmp_path / "fleet.csv")
    out, eps = tmp_path / "out.csv", tmp_path / "eps.csv"
    args = [
        "replay",
        "--csv",
        str(src),
        "--warmup",
        "40",
        "--out",
        str(out),
        "--episodes",
        str(eps),
    ]
    res = runner.invoke(app, args, terminal_width=200)
    assert res.exit_code == 0, res.output
    got = rows(out)
    assert list(got[0]) == ["unit", "time", "score", "alarm"] and len(got) == 500
    assert [r["unit"] for r in got] == ["1"] * 160 + ["2"] * 190 + ["3"] * 150
    last = {r["unit"]: r["alarm"] for r in got}  # each unit's last row
    assert last == {"1": "1", "2": "1", "3": "0"}
    text = " ".join(res.output.split())
    assert "units in alarm at their last row │ 2 of 3 (opened a median" in text
    assert "1970" not in res.output and "hours" not in res.output
    listed = rows(eps)
    assert {e["unit"] for e in listed} == {"1", "2"}
    for e in listed:
        opened = got[int(e["opened_row"])]
        assert opened["unit"] == e["unit"] and opened["time"] == e["stamp"]
        assert int(e["stamp"]) > {"1": 110, "2": 140}[e["unit"]]  # inside the wear
        assert e["rows"] == "" and opened["alarm"] == "1"  # open at the failure


def test_a_directory_is_a_fleet_each_file_replayed_on_its_own(tmp_path):
    """Every file of a directory is replayed (only the first one was, silently), each by
    its own detector and named after its file, even when their tags differ; the labels of
    all of them are scored together."""
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    write(fleet / "pump_a.csv", n=1500, fault=(1000, 1300), seed=5)
    write(fleet / "pump_b.csv", n=1400, fault=(0, 0), seed=6)
    quiet = (fleet / "pump_b.csv").read_text().replace("flow", "FT_101")
    (fleet / "pump_b.csv").write_text(quiet)
    out, eps = tmp_path / "out.csv", tmp_path / "eps.csv"
    args = ["replay", "--csv", str(fleet), "--label-column", "anomaly", "--out", str(out)]
    res = runner.invoke(app, [*args, "--episodes", str(eps)], terminal_width=200)
    assert res.exit_code == 0, res.output
    got = rows(out)
    assert [r["unit"] for r in got] == ["pump_a"] * 1500 + ["pump_b"] * 1400
    assert sum(int(r["alarm"]) for r in got[1000:1300]) > 200
    assert sum(int(r["alarm"]) for r in got[1500:]) == 0
    text = " ".join(res.output.split())
    assert "units │ 2" in text and "FT_101" in text and "faults detected │ 1 of 1" in text
    assert [e["unit"] for e in rows(eps)] == ["pump_a"]
