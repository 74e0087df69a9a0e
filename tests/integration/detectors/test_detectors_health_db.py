"""Each asset's health index is recorded with its checkpoint and shown (real TimescaleDB).

Tried: save_checkpoints writes one asset_health row per asset stamped with its last sample
(a re-save writes nothing), a detector in warm-up is recorded without an index, one that has
seen nothing is not recorded; ``forewarn detectors health`` lists the latest per asset, the
nearest to the alarm bar first, filtered by site or asset, and says so when there is nothing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from detectors import AssetDetector, load_config, store
from detectors.cli import app

pytestmark = pytest.mark.integration
CFG = load_config().override(warmup=1440).for_class("default")
T0 = 1_780_000_000.0  # 2026-05-28


def drifting(n: int, seed: int = 9, start: int = 1440) -> Iterator[tuple[float, dict[str, float]]]:
    """Two tags nobody configured, a daily cycle, a slow drift from row ``start``."""
    rng = random.Random(seed)
    for i in range(n):
        day = math.sin(2 * math.pi * i / 1440)
        ramp = min(1.0, max(0.0, (i - start) / 1000))
        yield (
            T0 + i * 60.0,
            {
                "QQ_vib": 2.0 * (1 + 0.1 * day) * (1 + 0.75 * ramp) + rng.gauss(0, 0.1),
                "QQ_tmp": 45 + 4 * day + 6 * ramp + rng.gauss(0, 0.3),
            },
        )


@pytest.fixture
def settings_file(tmp_path, dsn):
    p = tmp_path / "forewarn.yaml"
    p.write_text(f"database:\n  dsn: {dsn}\n")
    return p


def _fleet() -> tuple[AssetDetector, AssetDetector, AssetDetector, AssetDetector]:
    degrading = AssetDetector("hl-pump-1", CFG, site="site-h")
    for t, x in drifting(3000):
        degrading.update(t, x)
        if degrading.outlook_now().time_to_threshold_h is not None:
            break  # heading for the bar, not there yet
    warming = AssetDetector("hl-pump-2", CFG, site="site-h")
    for t, x in drifting(100, seed=2):
        warming.update(t, x)
    steady = AssetDetector("hl-fan-1", CFG, site="site-k")
    for t, x in drifting(1800, seed=3, start=10**9):
        steady.update(t, x)
    silent = AssetDetector("hl-fan-2", CFG, site="site-k")
    return degrading, warming, steady, silent


def _rows(db, asset: str) -> list[tuple]:
    return db.execute(
        """select ts, site, health, slope_per_day, time_to_threshold_h, alarm, state, ref_to,
                  worker from asset_health where asset = %s order by ts""",
        (asset,),
    ).fetchall()


def test_checkpoints_record_health_once_per_sample_and_the_cli_shows_it(db, settings_file):
    degrading, warming, steady, silent = _fleet()
    fleet = [degrading, warming, steady, silent]
    assert store.save_checkpoints(db, fleet, "w1") == 4
    assert store.save_checkpoints(db, fleet, "w1") == 4  # a re-save: no second health row

    (row,) = _rows(db, "hl-pump-1")
    o = degrading.outlook_now()
    assert row[0].timestamp() == degrading.pre.last_ts
    assert row[1:7] == ("site-h", o.health, o.slope_per_day, o.time_to_threshold_h, False,
                        "running")  # fmt: skip
    assert o.time_to_threshold_h is not None and o.time_to_threshold_h > 0
    assert row[7] is not None and row[7].timestamp() == degrading.health.ref.t_to
    assert row[8] == "w1"
    (row,) = _rows(db, "hl-pump-2")
    assert row[2:7] == (None, None, None, False, "warmup")
    (row,) = _rows(db, "hl-fan-1")
    assert row[6] == "running" and row[2] > 0.5 and row[4] is None
    assert _rows(db, "hl-fan-2") == []  # nothing scored, nothing to stamp a row with
    n = db.execute("select count(*) from detector_checkpoints where asset = 'hl-fan-2'")
    assert n.fetchone() == (1,)

    for t, x in list(drifting(3000))[int((degrading.pre.last_ts - T0) / 60) + 1 :][:30]:
        degrading.update(t, x)
    store.save_checkpoints(db, [degrading], "w2")
    rows = _rows(db, "hl-pump-1")
    assert len(rows) == 2 and rows[1][0] > rows[0][0] and rows[1][8] == "w2"

    runner = CliRunner(env={"COLUMNS": "160"})
    res = runner.invoke(app, ["health", "--site", "site-h", "--config", str(settings_file)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "hl-pump-1" in out and "hl-pump-2" in out and "hl-fan-1" not in out
    assert out.index("hl-pump-1") < out.index("hl-pump-2")  # the nearest to the bar first
    assert "warmup" in out and " h" in out  # hours to the bar, and the reference's age
    res = runner.invoke(app, ["health", "--asset", "hl-fan-1", "--config", str(settings_file)])
    assert res.exit_code == 0 and "hl-fan-1" in res.output and "hl-pump" not in res.output
    res = runner.invoke(app, ["health", "--asset", "hl-nope", "--config", str(settings_file)])
    assert res.exit_code == 1 and "no health recorded for asset 'hl-nope'" in res.output
