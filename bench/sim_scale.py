"""How many devices one simulator process sustains at 1 Hz.

Two figures per fleet size: generation only (the numpy engine), and generation plus
MQTT publishing (v1 batches of 10 samples, QoS 1, acknowledged by a private Mosquitto).
Baselines measured in the same process: the raw cost of drawing the fleet's noise with
numpy (the floor of any vectorised step), and raw paho QoS 1 publishing of same-sized
payloads (the floor of any Python MQTT output). Run: ``python -m bench.sim_scale``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from device_sim import Fleet, parse_scenario
from device_sim.mqtt_out import MqttFleet
from forewarn import mqtt as fmqtt
from forewarn.settings import MqttSettings
from forewarn.testing.servers import Broker

console = Console()
QUICK = bool(os.environ.get("FOREWARN_BENCH_QUICK"))
SIZES = [100, 1000, 4000] if QUICK else [100, 1000, 2000, 5000, 10000, 20000]
STEPS = 10 if QUICK else 30
RESULTS = Path(__file__).resolve().parent / "results"


def scenario(n: int):
    per = n // 4
    fleet = "".join(
        f"  - {{site: s, asset_class: {c}, count: {per}}}\n"
        for c in ("centrifugal_pump", "electric_motor", "air_compressor", "chiller")
    )
    return parse_scenario(
        "name: bench\nseed: 1\nstart: 2026-01-05T00:00:00Z\nduration: 1d\n"
        "sites: [{id: s, lat: 0, lon: 0}]\nfleet:\n" + fleet
    )


def gen_only(n: int) -> float:
    fleet = Fleet(scenario(n))
    fleet.step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(STEPS):
        fleet.step()
    return (time.perf_counter() - t0) / STEPS


def raw_noise(n: int) -> float:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(STEPS):
        rng.standard_normal((n, 16))
    return (time.perf_counter() - t0) / STEPS


def gen_mqtt(n: int, settings: MqttSettings) -> tuple[float, int, int, float]:
    """Seconds per step (including waiting for every PUBACK), messages, bytes, max lag."""
    fleet = Fleet(scenario(n))
    out = MqttFleet(fleet, settings, batch_samples=10)
    out.start()
    for _ in range(10):  # fill every asset's batch once: steady state from here on
        out(fleet.step())
    while out.acked < out.stats.messages:
        time.sleep(0.005)
    m0, b0 = out.stats.messages, out.stats.bytes
    t0 = time.perf_counter()
    for _ in range(STEPS):
        out(fleet.step())
    while out.acked < out.stats.messages and time.perf_counter() - t0 < 300:
        time.sleep(0.002)
    took = time.perf_counter() - t0
    msgs, nbytes = out.stats.messages - m0, out.stats.bytes - b0
    out.stop()
    return took / STEPS, msgs, nbytes, 0.0


def raw_publish(settings: MqttSettings, payload: bytes, count: int) -> float:
    """Raw paho QoS 1 messages per second of ``payload``, waiting for all acks."""
    client = fmqtt.paho_client(settings, fmqtt.client_id(settings, "bench-raw"), max_inflight=1000)
    acked = [0]
    client.on_publish = lambda *a: acked.__setitem__(0, acked[0] + 1)
    fmqtt.connect_paho(client, settings)
    t0 = time.perf_counter()
    for i in range(count):
        client.publish(f"forewarn/v1/bench/a{i % 1000}/telemetry", payload, qos=1)
    while acked[0] < count and time.perf_counter() - t0 < 120:
        time.sleep(0.005)
    took = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    return count / took


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as home:
        broker = Broker(home=Path(home)).start()
        try:
            settings = MqttSettings.model_validate({"url": broker.url})
            # One typical payload (a pump's 10-sample batch) for the raw publish baseline.
            probe = Fleet(scenario(4))
            probe_out = MqttFleet(probe, settings, batch_samples=10)
            payload = b""
            for _ in range(20):
                for _t, p, k in probe_out.batcher.add(probe.step()):
                    if k == 10:
                        payload = p
            raw_rate = raw_publish(settings, payload, 2000 if QUICK else 20000)
            for n in SIZES:
                g = gen_only(n)
                floor = raw_noise(n)
                m, msgs, nbytes, _ = gen_mqtt(n, settings)
                rows.append(
                    {
                        "devices": n,
                        "gen_ms_per_step": g * 1e3,
                        "noise_floor_ms": floor * 1e3,
                        "gen_mqtt_ms_per_step": m * 1e3,
                        "messages_per_s_needed": n / 10,
                        "publish_msgs_per_s": msgs / (m * STEPS) if m else 0.0,
                        "bytes_per_msg": nbytes / max(msgs, 1),
                        "gen_sustains_1hz": g < 1.0,
                        "mqtt_sustains_1hz": m < 1.0,
                    }
                )
                console.print(
                    f"{n} devices: gen {g * 1e3:.1f} ms/step, +mqtt {m * 1e3:.1f} ms/step"
                )
        finally:
            broker.kill()
    table = Table(title=f"device_sim at 1 Hz ({os.cpu_count()} cores; {STEPS} steps per size)")
    for col in (
        "devices",
        "gen ms/step",
        "noise floor",
        "gen/floor",
        "gen+MQTT ms/step",
        "MQTT msg/s",
        "vs raw paho",
        "1 Hz gen",
        "1 Hz +MQTT",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["devices"]),
            f"{r['gen_ms_per_step']:.1f}",
            f"{r['noise_floor_ms']:.2f}",
            f"{r['gen_ms_per_step'] / r['noise_floor_ms']:.0f}x",
            f"{r['gen_mqtt_ms_per_step']:.1f}",
            f"{r['publish_msgs_per_s']:.0f}",
            f"{r['publish_msgs_per_s'] / raw_rate:.2f}",
            "yes" if r["gen_sustains_1hz"] else "no",
            "yes" if r["mqtt_sustains_1hz"] else "no",
        )
    console.print(table)
    ok_gen = [r for r in rows if r["gen_sustains_1hz"]] or rows[:1]
    ok_mqtt = [r for r in rows if r["mqtt_sustains_1hz"]] or rows[:1]
    gen_row, mqtt_row = ok_gen[-1], ok_mqtt[-1]
    est_gen = gen_row["devices"] / (gen_row["gen_ms_per_step"] / 1e3)
    est_mqtt = mqtt_row["devices"] / (mqtt_row["gen_mqtt_ms_per_step"] / 1e3)
    console.print(
        f"raw paho QoS 1 publish: {raw_rate:.0f} msg/s of {len(payload)} B (broker on the same "
        f"machine). Largest fleet sustained at 1 Hz: generation {gen_row['devices']} devices "
        f"({gen_row['gen_ms_per_step']:.0f} ms/step), generation + MQTT {mqtt_row['devices']} "
        f"({mqtt_row['gen_mqtt_ms_per_step']:.0f} ms/step); linear estimate of the ceiling: "
        f"~{est_gen:.0f} and ~{est_mqtt:.0f} devices."
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_scale.json").write_text(
        json.dumps(
            {
                "steps": STEPS,
                "quick": QUICK,
                "raw_paho_qos1_msgs_per_s": raw_rate,
                "payload_bytes": len(payload),
                "rows": rows,
                "largest_sustained_1hz": {
                    "generation": gen_row["devices"],
                    "generation_mqtt": mqtt_row["devices"],
                },
                "capacity_1hz_estimate": {"generation": est_gen, "generation_mqtt": est_mqtt},
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
