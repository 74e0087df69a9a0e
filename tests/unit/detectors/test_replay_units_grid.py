"""``forewarn replay`` on a run-to-failure fleet file, and ``--grid``, as a new user runs them.

Tried: a multi-unit file (unit and cycle columns, a constant sensor, a text column) that
must be split into machines, each with its own warm-up; a grid over two values; a grid
argument without '=' and one naming a key that does not exist (exit 2, the key named).
"""

from __future__ import annotations

import csv
import random

from typer.testing import CliRunner

from detectors.cli import app

runner = CliRunner()


def fleet(path, units=3, n=160):
    rng = random.Random(11)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit", "cycle", "s1", "s2", "s3", "s4", "note"])
        for u in range(1, units + 1):
            base = 100.0 * u  # every machine has its own level: one reference would fail
            for c in range(1, n + 1):
                wear = max(0.0, (c - n * 0.6) / (n * 0.4))
                w.writerow(
                    [u, c, f"{base + rng.gauss(0, 1) + 8 * wear:.3f}",
                     f"{base / 2 + rng.gauss(0, 0.5) - 4 * wear:.3f}",
                     f"{7 + rng.gauss(0, 0.1):.3f}", "518.67", "ok"]
                )  # fmt: skip
    return path


def test_multi_unit_file_is_replayed_machine_by_machine(tmp_path):
    src, out = fleet(tmp_path / "fleet.csv"), tmp_path / "out.csv"
    res = runner.invoke(app, ["replay", "--csv", str(src), "--warmup", "40", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 160
    alarms = [int(r["alarm"]) for r in rows]
    for u in range(3):
        unit = alarms[u * 160 : (u + 1) * 160]
        assert sum(unit[:80]) == 0, "no machine alarms in its healthy first half"
        assert any(unit[-20:]), f"unit {u + 1} wears out unseen"
    assert "unit" not in res.output.split("metrics")[1].split("\n")[0]


def test_grid_prints_one_row_per_configuration_and_refuses_bad_arguments(tmp_path):
    src = fleet(tmp_path / "fleet.csv")
    out = str(tmp_path / "o.csv")
    res = runner.invoke(
        app,
        ["replay", "--csv", str(src), "--warmup", "40", "--out", out,
         "--grid", "health.alpha=0.05,0.2"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "alpha=0.05" in res.output and "alpha=0.2" in res.output
    assert "3/3" in res.output
    bad = runner.invoke(app, ["replay", "--csv", str(src), "--out", out, "--grid", "alpha"])
    assert bad.exit_code == 2 and "key=v1,v2" in bad.output
    bad = runner.invoke(app, ["replay", "--csv", str(src), "--out", out, "--grid", "health.nope=1"])
    assert bad.exit_code == 2 and "nope" in bad.output
    # a retired key would give identical rows that look like a finding: refused instead
    for key in ("robust.z_half=3,6", "drift.threshold=20", "hst.weight=0.5"):
        bad = runner.invoke(app, ["replay", "--csv", str(src), "--out", out, "--grid", key])
        assert bad.exit_code == 2 and "retired" in bad.output, bad.output
