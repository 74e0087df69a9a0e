"""Offline history: run a scenario without outputs and write one wide CSV per asset.

The format is what ``forewarn replay --csv`` reads: a ``time`` column (RFC 3339), one
column per metric (empty = sensor dropout, no row while the site has no power), and a
``label`` column that is 1 from a degradation's onset until the asset is repaired (or the
end, if it never is): degrading, then failed. Reliability engineers can tune detectors on
simulated years in minutes; truth.csv next to it has the exact failure times.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from device_sim.engine import Fleet
from forewarn.contract import utc


def labels_for(fleet: Fleet, asset: str, t: np.ndarray) -> np.ndarray:
    """1 where the asset is degrading or failed (onset <= t < repair), else 0."""
    out = np.zeros(len(t), dtype=np.int8)
    for e in fleet.truth():
        if e.asset == asset and e.kind == "degradation":
            end = e.end if e.end is not None else np.inf
            out[(t >= e.onset) & (t < end)] = 1
    return out


def export_history(
    fleet: Fleet,
    steps: int,
    out_dir: str | Path,
    *,
    assets: set[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Step ``fleet`` ``steps`` times; write ``<out_dir>/<asset>.csv``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {
        cls: [i for i, a in enumerate(g.assets) if assets is None or a.id in assets]
        for cls, g in fleet.groups.items()
    }
    values = {
        cls: np.empty((steps, len(idx), len(fleet.groups[cls].metrics)))
        for cls, idx in wanted.items()
    }
    online = {cls: np.empty((steps, len(idx)), dtype=bool) for cls, idx in wanted.items()}
    t = np.empty(steps)
    for s in range(steps):
        frame = fleet.step()
        t[s] = frame.t
        for cls, idx in wanted.items():
            values[cls][s] = frame.values[cls][idx]
            online[cls][s] = frame.online[cls][idx]
        if progress is not None and (s + 1) % 1000 == 0:
            progress(1000)
    stamps = np.array([utc(fleet.start + timedelta(seconds=float(x))) for x in t])
    paths = []
    for cls, idx in wanted.items():
        g = fleet.groups[cls]
        for j, i in enumerate(idx):
            asset = g.assets[i].id
            keep = online[cls][:, j]
            df = pd.DataFrame(values[cls][keep, j, :], columns=list(g.metrics))
            df.insert(0, "time", stamps[keep])
            df["label"] = labels_for(fleet, asset, t[keep])
            path = out / f"{asset}.csv"
            df.to_csv(path, index=False, float_format="%.6g")
            paths.append(path)
    return paths
