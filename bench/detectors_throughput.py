"""Asset vectors per second: the default detector ensemble vs bare river HalfSpaceTrees.

Both run in the same process on the same 8-metric vectors (one core). The baseline is what a
naive streaming detector costs: ``score_one`` + ``learn_one`` of river's HalfSpaceTrees with
its defaults on features already in [0, 1]. The ensemble does everything the live service
does per sample (hygiene, the frozen-reference health index with its spike and surprise
signals, trend, alarm latch, evidence window; the spike trees only where a class enables them).

    python -m bench.detectors_throughput [--samples N]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from river.anomaly import HalfSpaceTrees

from detectors import AssetDetector, load_config

RESULTS = Path(__file__).resolve().parent / "results"
LEVELS = {"vibration": 2.0, "bearing_temp": 55.0, "flow": 30.0, "pressure": 6.0,
          "pressure_dp": 0.4, "current": 12.0, "volt": 400.0, "rpm": 2950.0}  # fmt: skip
METRICS = list(LEVELS)


def vectors(n: int, seed: int = 1) -> list[dict[str, float]]:
    """Running-pump readings (2% noise) as the ensemble sees them."""
    rng = random.Random(seed)
    return [{m: v * (1 + 0.02 * rng.gauss(0, 1)) for m, v in LEVELS.items()} for _ in range(n)]


def unit(xs: list[dict[str, float]]) -> list[dict[str, float]]:
    """The same readings pre-scaled into [0, 1] for bare HST (scaling not timed: its best case)."""
    return [{m: min(1.0, max(0.0, v / (2 * LEVELS[m]))) for m, v in x.items()} for x in xs]


def bare_hst(xs: list[dict[str, float]]) -> float:
    model = HalfSpaceTrees(seed=42)
    t0 = time.process_time()
    for x in xs:
        model.score_one(x)
        model.learn_one(x)
    return len(xs) / (time.process_time() - t0)


def ensemble(xs: list[dict[str, float]], asset_class: str) -> float:
    det = AssetDetector("bench", load_config().for_class(asset_class))
    t0 = time.process_time()
    for i, x in enumerate(xs):
        det.update(float(i), x)
    return len(xs) / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=30_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    xs = vectors(args.samples)
    us = unit(xs)
    runs: dict[str, list[float]] = {"hst": [], "default": [], "centrifugal_pump": []}
    for _ in range(args.repeat):  # interleaved, best of n: the machine is shared
        runs["hst"].append(bare_hst(us))
        runs["default"].append(ensemble(xs, "default"))
        runs["centrifugal_pump"].append(ensemble(xs, "centrifugal_pump"))
    best = {k: max(v) for k, v in runs.items()}
    table = Table(title=f"detector throughput, {len(METRICS)} metrics, {args.samples} vectors")
    table.add_column("detector")
    table.add_column("asset-vectors/s", justify="right")
    table.add_column("ratio to bare HST", justify="right")
    table.add_column("µs per sample", justify="right")
    table.add_row(
        "bare river HalfSpaceTrees (score+learn)",
        f"{best['hst']:,.0f}",
        "1.00",
        f"{1e6 / best['hst']:.0f}",
    )
    for k in ("default", "centrifugal_pump"):
        table.add_row(
            f"forewarn detector, shipped config ({k})",
            f"{best[k]:,.0f}",
            f"{best[k] / best['hst']:.2f}",
            f"{1e6 / best[k]:.0f}",
        )
    Console().print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "detectors_throughput.json"
    result = {"samples": args.samples, "runs": runs, "best": best,
              "ratio_default": best["default"] / best["hst"],
              "ratio_pump": best["centrifugal_pump"] / best["hst"]}  # fmt: skip
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
