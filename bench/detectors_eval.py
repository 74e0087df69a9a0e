"""Evaluate the shipped default detector configuration on SKAB and NAB, beside published figures.

Thresholds are those of ``detectors/config/default.yaml``, fixed in advance; the only
per-dataset setting is the warm-up the benchmark's protocol prescribes (SKAB: first 400 rows
are training; NAB: the probationary 15% of each file, at most 750 rows).

    python -m bench.detectors_eval            # datasets from ../shared/datasets
    FOREWARN_DATASETS=/path python -m bench.detectors_eval
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import track
from rich.table import Table

from detectors.configuration import load_config
from detectors.replay import read_csv, replay
from detectors.scoring import Report, episodes, evaluate, nab_normalised, nab_raw

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
console = Console()

SKAB_PUBLISHED = [  # whole benchmark, outlier-detection table (datasets README)
    ("Conv-AE", 0.78, 0.136, 0.280),
    ("MSET", 0.78, 0.397, 0.141),
    ("T-squared+Q (PCA)", 0.76, 0.266, 0.249),
    ("Isolation forest", 0.29, 0.026, 0.829),
]
NAB_PUBLISHED = [
    ("ARTime", 74.9),
    ("Numenta HTM", 70.5),
    ("CAD OSE", 69.9),
    ("KNN CAD", 58.0),
    ("Random Cut Forest", 51.7),
    ("windowed Gaussian", 39.6),
]


def datasets() -> Path:
    path = Path(os.environ.get("FOREWARN_DATASETS", ROOT.parent / "shared" / "datasets"))
    if not (path / "skab").is_dir() or not (path / "nab").is_dir():
        raise SystemExit(f"datasets not found at {path}: set FOREWARN_DATASETS")
    return path


def skab() -> dict[str, object]:
    base = datasets() / "skab"
    cfg = load_config().override(warmup=400).for_class("default")
    files = sorted((base / "valve1").glob("*.csv"), key=lambda p: int(p.stem))
    total = Report(delays_s=[])
    for f in track(files, description="SKAB", console=console, transient=True):
        frame = read_csv(f, sep=";", label_column="anomaly")
        res = replay(frame, cfg, asset=f.stem)
        assert frame.labels is not None
        total = total.merge(
            evaluate(frame.times.tolist(), frame.labels.tolist(), res.alarms, start=400)
        )
    free = read_csv(base / "anomaly-free" / "anomaly-free.csv", sep=";")
    res = replay(free, cfg, asset="free")
    false_free = len(episodes(res.alarms[400:]))
    hours_free = (free.times[-1] - free.times[400]) / 3600
    normal_hours = (total.fp + total.tn) / 3600  # 1 Hz
    return {
        "files": len(files),
        "faults": total.faults,
        "detected": total.detected,
        "median_delay_s": total.median_delay_s,
        "f1": total.f1,
        "far": total.far,
        "mar": total.mar,
        "false_episodes": total.false_episodes,
        "false_episodes_per_normal_hour": total.false_episodes / normal_hours,
        "anomaly_free_false_episodes": false_free,
        "anomaly_free_hours": hours_free,
        "config_hash": cfg.config_hash(),
    }


def nab() -> dict[str, object]:
    base = datasets() / "nab"
    windows = json.loads((base / "labels" / "combined_windows.json").read_text())
    raw = null = perfect = 0.0
    per_file = {}
    files = sorted(windows)
    for name in track(files, description="NAB", console=console, transient=True):
        path = base / "data" / name
        if not path.exists():
            continue
        df = pd.read_csv(path)
        n = len(df)
        probation = min(math.floor(0.15 * n), 750)
        cfg = load_config().override(warmup=probation).for_class("default")
        frame = read_csv(path, columns=["value"])
        res = replay(frame, cfg, asset="nab")
        onsets = [s for s, _ in episodes(res.alarms)]
        ts = pd.to_datetime(df["timestamp"]).to_numpy()
        wins = []
        for start, end in windows[name]:
            s = int(np.searchsorted(ts, np.datetime64(pd.Timestamp(start)), side="left"))
            e = int(np.searchsorted(ts, np.datetime64(pd.Timestamp(end)), side="right")) - 1
            wins.append((s, min(e, n - 1)))
        r, nl, pf = nab_raw(n, wins, onsets, "standard")
        raw, null, perfect = raw + r, null + nl, perfect + pf
        per_file[name] = {"raw": r, "windows": len(wins), "detections": len(onsets)}
    return {
        "files": len(per_file),
        "standard_score": nab_normalised(raw, null, perfect),
        "raw": raw,
        "null": null,
        "perfect": perfect,
        "per_file": per_file,
    }


def main() -> None:
    t0 = time.perf_counter()
    s = skab()
    nb = nab()
    elapsed = time.perf_counter() - t0

    t = Table(title="SKAB valve1 (16 files; first 400 rows training) - shipped default config")
    for col in ("detector", "F1", "FAR", "MAR", "faults detected", "median delay"):
        t.add_column(col, justify="right" if col != "detector" else "left")
    t.add_row(
        "forewarn default",
        f"{s['f1']:.3f}",
        f"{s['far']:.1%}",
        f"{s['mar']:.1%}",
        f"{s['detected']} of {s['faults']}",
        f"{s['median_delay_s']:.0f} s",
    )
    for name, f1, far, mar in SKAB_PUBLISHED:
        t.add_row(
            f"{name} (published, full SKAB)", f"{f1:.2f}", f"{far:.1%}", f"{mar:.1%}", "-", "-"
        )
    console.print(t)
    console.print(
        f"false alarm episodes: {s['false_episodes']} in valve1 normal running "
        f"({s['false_episodes_per_normal_hour']:.2f}/h); {s['anomaly_free_false_episodes']} in "
        f"{s['anomaly_free_hours']:.1f} h of anomaly-free running"
    )
    t2 = Table(title=f"NAB subset ({nb['files']} files) - standard profile, one configuration")
    t2.add_column("detector")
    t2.add_column("score", justify="right")
    t2.add_row("forewarn default (this subset)", f"{nb['standard_score']:.1f}")
    for name, score in NAB_PUBLISHED:
        t2.add_row(f"{name} (published, full corpus)", f"{score:.1f}")
    console.print(t2)
    console.print(f"elapsed {elapsed:.1f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "detectors_eval.json"
    out.write_text(
        json.dumps({"skab": s, "nab": nb, "elapsed_s": elapsed}, indent=2, default=float)
    )
    console.print(f"written {out}")


if __name__ == "__main__":
    main()
