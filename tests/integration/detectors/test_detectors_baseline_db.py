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
    return _store(db, ASSET)


def _store(db, asset: str) -> list[tuple]:
    rng = random.Random(4)
    rows = []
    for i in range(600):
        t = T0 + timedelta(minutes=i)
        level = 30.0 if i < 300 else 36.0  # the second half: after an overhaul
        rows += [
            (t, asset, "flow", level + rng.gauss(0, 0.3)),
            (t, asset, "pressure", level / 5 + rng.gauss(0, 0.05)),
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


def _detector(asset: str = ASSET) -> AssetDetector:
    det = AssetDetector(asset, load_config().override(warmup=100).for_class("default"))
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


def test_an_upgrade_re_learns_the_previous_reference_window_instead_of_commissioning(db):
    """A checkpoint of another configuration cannot be resumed; the window its reference was
    learned on can: the new model gets it (filed once, applied by the owning worker)."""
    asset = "bl-pump-up"
    _store(db, asset)
    old = _detector(asset)  # commissioned on the first 100 rows (warm-up 100: nothing grows)
    store.save_checkpoints(db, [old], "w1")
    assert old.health.ref is not None
    new_cfg = load_config().with_values({"health.half": 1.6}).override(warmup=100)
    cfg = new_cfg.for_class("default")
    assert cfg.config_hash() != old.cfg.config_hash()

    assert store.load_checkpoint(db, asset, cfg.config_hash(), cfg.health) is None
    assert store.load_checkpoint(db, asset, cfg.config_hash(), cfg.health) is None  # twice
    filed = db.execute(
        "select actor, ref_from, ref_to from detector_baselines"
        " where asset = %s and state = 'requested'",
        (asset,),
    ).fetchall()
    last = T0 + timedelta(minutes=99, microseconds=1)  # half-open: the last row is in
    assert filed == [("detectors", T0, last)]

    det = AssetDetector(asset, cfg)
    assert store.apply_baseline_requests(db, {asset: det}, "w1") == 1
    ref = det.health.ref
    assert ref is not None and ref.rows == 100 and det.commission is None
    assert abs(float(ref.center[ref.names.index("flow")]) - 30.0) < 0.2
    reason = db.execute(
        "select reason from detector_baselines where asset = %s and state = 'applied'"
        " order by id desc limit 1",
        (asset,),
    ).fetchone()
    assert reason is not None and reason[0].startswith("upgrade:")
    assert reason[0].endswith("(commissioning)")
    # the same configuration resumes as before
    store.save_checkpoints(db, [det], "w1")
    again = store.load_checkpoint(db, asset, cfg.config_hash(), cfg.health)
    assert again is not None and again.health.ref is not None
    # a second upgrade names what the reference was first learned as, once
    later = load_config().with_values({"health.half": 1.7}).override(warmup=100)
    later_cfg = later.for_class("default")
    assert store.load_checkpoint(db, asset, later_cfg.config_hash(), later_cfg.health) is None
    filed_again = db.execute(
        "select reason from detector_baselines where asset = %s and state = 'requested'",
        (asset,),
    ).fetchone()
    assert filed_again == ("upgrade: the previous reference's window re-learned (commissioning)",)


def test_a_model_still_commissioning_is_not_carried_over(db):
    shipped = load_config().for_class("default")  # warm-up 300, growing to a day
    asset = "bl-pump-new"
    _store(db, asset)
    det = AssetDetector(asset, shipped)
    rng = random.Random(6)
    for i in range(320):
        t = (T0 + timedelta(minutes=i)).timestamp()
        det.update(t, {"flow": 30 + rng.gauss(0, 0.3), "pressure": 6 + rng.gauss(0, 0.05)})
    assert det.commission is not None and det.commission.active
    store.save_checkpoints(db, [det], "w1")
    other = load_config().with_values({"health.half": 1.6}).for_class("default")
    assert store.load_checkpoint(db, asset, other.config_hash(), other.health) is None
    n = db.execute(
        "select count(*) from detector_baselines where asset = %s and state = 'requested'",
        (asset,),
    )
    assert n.fetchone() == (0,)
