"""Telemetry encoders side by side: stdlib json, pydantic (``contract.encode``), orjson
(``contract.wire``), in one run on one batch, so the figures share the machine's noise.

A batch is 100 samples of 8 metrics (the gateway's default ``max_samples``). Run:
``python bench/contract_encode.py [repeats]``; prints µs per batch for each encoder and its
ratio to stdlib json (lower is faster).
"""

from __future__ import annotations

import json
import random
import sys
import timeit
from datetime import UTC, datetime, timedelta

from forewarn.contract import Sample, TelemetryBatch, encode
from forewarn.contract.models import utc
from forewarn.contract.wire import encode_samples, sample, telemetry_envelope


def main(repeats: int = 2000) -> None:
    rnd = random.Random(1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (t0 + timedelta(seconds=i), {f"m{j}": rnd.uniform(-100, 100) for j in range(8)})
        for i in range(100)
    ]
    model = TelemetryBatch(
        asset="p1", seq=7, samples=[Sample(ts=t, values=v) for t, v in rows], gateway="gw1"
    )

    texts = [(utc(t), v) for t, v in rows]  # the producers format each ts once, on arrival

    def stdlib() -> bytes:
        samples = [{"ts": t, "values": v} for t, v in texts]
        doc = {"v": 1, "asset": "p1", "seq": 7, "historical": False, "gateway": "gw1"}
        doc["samples"] = samples
        return json.dumps(doc, separators=(",", ":")).encode()

    def pydantic() -> bytes:  # model prebuilt (not counted); it formats the 100 ts itself
        return encode(model)

    def orjson_wire() -> bytes:
        body = encode_samples([sample(t, v) for t, v in texts])
        return telemetry_envelope("p1", 7, body, gateway="gw1")

    results = {}
    for name, fn in [("stdlib json", stdlib), ("pydantic", pydantic), ("orjson", orjson_wire)]:
        best = min(timeit.repeat(fn, number=repeats, repeat=5)) / repeats
        results[name] = best * 1e6
    base = results["stdlib json"]
    print("encoder        µs/batch  vs json   (100 samples x 8 metrics, best of 5)")
    for name, us in results.items():
        print(f"{name:<13} {us:9.1f}  {us / base:6.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
