"""MQTT batching without a broker: contract-valid payloads, every sample exactly once."""

from __future__ import annotations

import math

from device_sim import CLASSES, Fleet, load_scenario
from device_sim.mqtt_out import Batcher
from forewarn.contract import TelemetryBatch, decode, topics


def test_batches_are_valid_contract_and_lose_nothing():
    sc = load_scenario("default").model_copy(update={"sample_period_s": 60.0})
    fleet = Fleet(sc)
    batcher = Batcher(fleet, batch_samples=7)
    cut = next(f for f in sc.faults if f.fault == "power_loss")
    fleet.k = int(cut.at // 60) - 20  # straddle the south site's power cut
    sent: dict[str, list] = {}
    seqs: dict[str, list[int]] = {}
    history = []
    for _ in range(60):
        frame = fleet.step()
        history.append(frame)
        for topic, payload, n in batcher.add(frame):
            batch = decode(TelemetryBatch, payload)
            assert len(batch.samples) == n <= 7
            assert batch.asset_class is not None and not batch.historical
            parsed = topics.parse(topic)
            assert parsed.kind == "telemetry" and parsed.asset == batch.asset
            sent.setdefault(batch.asset, []).extend(batch.samples)
            seqs.setdefault(batch.asset, []).append(batch.seq)
    for _topic, payload, _n in batcher.drain():
        batch = decode(TelemetryBatch, payload)
        sent[batch.asset].extend(batch.samples)
        seqs[batch.asset].append(batch.seq)
    for asset, s in seqs.items():
        assert s == list(range(len(s))), asset  # gap-free per-asset counter
    for cls, g in fleet.groups.items():
        for i, a in enumerate(g.assets):
            expected = [f for f in history if f.online[cls][i]]
            got = sent.get(a.id, [])
            assert [s.ts for s in got] == [f.ts for f in expected], a.id
            for sample, f in zip(got, expected, strict=True):
                row = f.values[cls][i]
                want = {
                    m: float(v) for m, v in zip(g.metrics, row, strict=True) if not math.isnan(v)
                }
                assert sample.values.keys() == want.keys()
                for m, v in want.items():  # 6 significant digits on the wire
                    assert math.isclose(sample.values[m], v, rel_tol=1e-5, abs_tol=1e-9), m
            if a.site == "south":
                assert len(expected) < len(history)  # the cut is visible as missing samples


def test_dropped_sensors_are_omitted_not_sent_as_garbage(make_healthy):
    sc = make_healthy(stops=0, drops=40, stuck=0)  # many dropouts per asset-day
    fleet = Fleet(sc)
    batcher = Batcher(fleet, batch_samples=5)
    partial = full = 0
    for _ in range(100):
        for _topic, payload, _n in batcher.add(fleet.step()):
            for sample in decode(TelemetryBatch, payload).samples:
                n_metrics = len(CLASSES[decode(TelemetryBatch, payload).asset_class].metrics)
                if len(sample.values) < n_metrics:
                    partial += 1
                else:
                    full += 1
    assert partial > 0 and full > 0
