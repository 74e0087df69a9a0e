"""``replay --asset`` over telemetry stored in a real TimescaleDB."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from detectors.cli import app

pytestmark = pytest.mark.integration
T0 = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def stored(db):
    rng = random.Random(2)
    rows = []
    for i in range(1200):
        t = T0 + timedelta(seconds=10 * i)
        flow = 30 + rng.gauss(0, 0.3) - (8 if 900 <= i < 1100 else 0)
        rows += [
            (t, "db-pump-1", "flow", flow),
            (t, "db-pump-1", "pressure", 6 + rng.gauss(0, 0.05)),
        ]
    with db.cursor() as cur:
        cur.executemany(
            "insert into telemetry (time, asset, metric, value) values (%s,%s,%s,%s)"
            " on conflict do nothing",
            rows,
        )
        cur.execute(
            "insert into assets (asset, site, asset_class) values ('db-pump-1', 's1', 'default')"
            " on conflict do nothing"
        )
    return rows


@pytest.fixture
def settings_file(tmp_path, dsn):
    p = tmp_path / "forewarn.yaml"
    p.write_text(f"database:\n  dsn: {dsn}\n")
    return p


def test_replay_from_database(stored, settings_file, tmp_path):
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(
        app,
        ["replay", "--asset", "db-pump-1", "--settings", str(settings_file),
         "--from", "2026-04-01T00:00:00Z", "--to", "2026-04-02T00:00:00Z", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    with out.open() as fh:
        got = list(csv.DictReader(fh))
    assert len(got) == 1200
    assert got[0]["time"] == "2026-04-01T00:00:00Z"
    alarms = [int(r["alarm"]) for r in got]
    assert sum(alarms[:900]) == 0 and sum(alarms[900:1100]) > 150


def test_replay_from_database_bad_input(stored, settings_file, tmp_path):
    """Bad input tried: unknown asset, empty range, bad time, both --csv and --asset."""
    runner = CliRunner()
    base = ["replay", "--settings", str(settings_file), "--out", str(tmp_path / "o.csv")]
    for extra, msg in [
        (["--asset", "nope"], "no telemetry stored"),
        (["--asset", "db-pump-1", "--from", "2030-01-01"], "no telemetry stored"),
        (["--asset", "db-pump-1", "--from", "yesterday-ish"], "bad time range"),
        (["--asset", "db-pump-1", "--csv", "x.csv"], "exactly one of"),
    ]:
        res = runner.invoke(app, base + extra)
        assert res.exit_code == 2, res.output
        assert msg in " ".join(res.output.split())
