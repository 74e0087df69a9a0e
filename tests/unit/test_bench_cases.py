"""The regime benches say which fault mode each degradation is, and the table breaks the
figures down by it (a mode never seen must not hide in a total)."""

from __future__ import annotations

from bench.detectors_cases import physics_asset, regime_asset
from bench.detectors_generalize import table


def test_generators_name_the_mode_they_degrade() -> None:
    df, onset = physics_asset(30000, degrade=True, days=3.0)
    assert onset is not None and df.attrs["mode"] == "winding"
    # the winding temperature (tag g) rose over the degradation, nothing else did as much
    healthy, _ = physics_asset(30000, degrade=False, days=3.0)
    assert healthy.attrs["mode"] is None
    rise = (df.iloc[-60:, 1:].mean() - healthy.iloc[-60:, 1:].mean()).abs()
    assert rise.idxmax().endswith("_g") and rise.max() > 10
    df2, _ = regime_asset(1000, degrade=True)
    assert df2.attrs["mode"] in {"bearing", "leak", "fouling"}
    assert regime_asset(1001, degrade=False)[0].attrs["mode"] is None


def test_table_breaks_detections_down_by_mode() -> None:
    group = {
        "warmup": 300, "degradations": 3, "detected": 2, "detected_24h": 1,
        "median_lead_h": 30.0, "false_episodes": 0, "healthy_asset_days": 90.0,
        "false_per_100_asset_days": 0.0, "drift": [], "physics": True,
        "by_mode": {"bearing": {"degradations": 2, "seen": 2, "ahead_24h": 1},
                    "winding": {"degradations": 1, "seen": 0, "ahead_24h": 0}},
    }  # fmt: skip
    rows = [r for r in table({"cases_physics": group}).splitlines() if "by fault mode" in r]
    assert len(rows) == 1 and "bearing 1/2/2, winding 0/0/1" in rows[0]
