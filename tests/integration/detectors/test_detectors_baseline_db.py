"""The reference changes only on purpose, and every change is recorded (real TimescaleDB).

Tried: an engineer's ``detectors baseline`` request applied by the owning worker; bad input
(window the wrong way round, a window without telemetry: exit 2, nothing written); the
automatic commissioning change written with the checkpoint, once (a re-save adds nothing).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from detectors import AssetDetector, load_config, store
from detectors.cli import app

pytestmark = pytest.mark.integration
T0 = datetime(2026, 5, 1, tzinfo=UTC)
ASSET = "bl-pump-1"


@pytest.fixture
def stored(db):
    rng = random.Random(4)
    rows = []
    for i in range(600):
        t = T0 + timedelta(minutes=i)
        level = 30.0 if i < 300 else 36.0  # the second half: after an overhaul
        rows += [
            (t, ASSET, "flow", level + rng.gauss(0, 0.3)),
            (t, ASSET, "pressure", level / 5 + rng.gauss(0, 0.05)),
        ]
    with db.cursor() as cur:
        cur.executemany(
            "insert into telemetry (time, asset, metric, value) values (%s,%s,%s,%s)"
            " on conflict do nothing",
            rows,
        )
    return rows


@pytest.fixture
def settings_file(tmp_path, dsn):
    p = tmp_path / "forewarn.yaml"
    p.write_text(f"database:\n  dsn: {dsn}\n")
    return p


def _detector() -> AssetDetector:
    det = AssetDetector(ASSET, load_config().override(warmup=100).for_class("default"))
    rng = random.Random(5)
    for i in range(150):
        t = (T0 + timedelta(minutes=i)).timestamp()
        det.update(t, {"flow": 30 + rng.gauss(0, 0.3), "pressure": 6 + rng.gauss(0, 0.05)})
    return det


def test_baseline_command_is_applied_by_the_worker_and_recorded(db, stored, settings_file):
    det = _detector()
    assert det.health.ref is not None
    old = det.health.ref
    store.save_checkpoints(db, [det], "w1")
    store.save_checkpoints(db, [det], "w1")  # a second save records nothing new
    auto = db.execute(
        "select reason, actor, state from detector_baselines where asset = %s", (ASSET,)
    ).fetchall()
    assert auto == [("commissioning", "detector", "applied")]

    res = CliRunner().invoke(
        app,
        ["baseline", ASSET, "--from", "2026-05-01T05:00:00Z", "--to", "2026-05-01T10:00:00Z",
         "--why", "overhaul 2026-05", "--by", "r.engineer", "--config", str(settings_file)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert store.apply_baseline_requests(db, {ASSET: det}, "w1") == 1
    row = db.execute(
        """select state, reason, actor, rows, metrics, worker from detector_baselines
           where asset = %s and reason = 'overhaul 2026-05'""",
        (ASSET,),
    ).fetchone()
    assert row == ("applied", "overhaul 2026-05", "r.engineer", 300, ["flow", "pressure"], "w1")
    ref = det.health.ref
    assert ref is not old and ref is not None
    assert abs(float(ref.center[ref.names.index("flow")]) - 36.0) < 0.2
    assert store.apply_baseline_requests(db, {ASSET: det}, "w1") == 0  # applied once


@pytest.mark.parametrize(
    ("since", "until", "why"),
    [
        ("2026-05-01T10:00:00Z", "2026-05-01T05:00:00Z", "after"),  # wrong way round
        ("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", "no telemetry"),
        ("yesterday-ish", "2027-01-02T00:00:00Z", "--from"),  # not a time
    ],
)
def test_bad_baseline_windows_are_refused_and_write_nothing(db, settings_file, since, until, why):
    res = CliRunner().invoke(
        app,
        ["baseline", "bl-pump-2", "--from", since, "--to", until, "--config", str(settings_file)],
    )
    assert res.exit_code == 2
    assert why in res.output
    n = db.execute("select count(*) from detector_baselines where asset = 'bl-pump-2'")
    assert n.fetchone() == (0,)
