"""How many points per second one gateway polls and publishes.

The simulator's fleet (default scenario, 36 devices, four vendor profiles) serves Modbus TCP
from a separate process; one gateway polls every device as fast as its poll period allows,
batches, writes through its durable SQLite buffer and publishes QoS 1 to a private
Mosquitto, where a subscriber counts samples. The simulator's server (one Python process)
is usually the ceiling here, so the gateway's own CPU per point is reported too. Baselines measured in the same run: a bare
pymodbus client reading one device in a loop (the same coalesced reads, no gateway), and a
bare paho publisher (QoS 1, one message per acknowledged batch).

    python -m bench.gateway_throughput   (FOREWARN_BENCH_QUICK=1 for a short run)
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from forewarn import mqtt
from forewarn.settings import MqttSettings
from forewarn.testing import Broker, free_port
from gateway import Gateway, load
from gateway.devicemap import config_from_map
from gateway.poller import client_for, poll_once

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = bool(os.environ.get("FOREWARN_BENCH_QUICK"))
DURATION = 4.0 if QUICK else 12.0
console = Console()


def _serve_fleet(port: int, queue: Any) -> None:
    from device_sim import Fleet, load_scenario
    from device_sim.modbus_out import ModbusFleet
    from forewarn.registers import load_profiles

    async def main() -> None:
        fleet = Fleet(load_scenario("default"))
        server = ModbusFleet(fleet, load_profiles(), base_port=port, layout="unit")
        await server.start()
        for _ in range(3):
            fleet.step()
        queue.put(server.device_map())
        while True:
            await asyncio.sleep(1.0)
            fleet.step()

    asyncio.run(main())


def _config(tmp: Path, endpoints: list[dict[str, Any]], period: float) -> Path:
    config = config_from_map(
        [{**e, "site": "bench"} for e in endpoints],
        gateway="gw-bench",
        site="bench",
        poll_period_s=period,
        buffer_path=str(tmp / "buffer.sqlite"),
    )
    config["batch"] = {"max_samples": 100, "max_latency_s": 0.5}
    config["status_period_s"] = 5
    path = tmp / "gw.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def raw_modbus(cfg_path: Path, seconds: float) -> dict[str, float]:
    """One bare client polling one device back to back: the per-connection ceiling."""
    dev = load(cfg_path).devices[0]

    async def main() -> tuple[int, int]:
        client = client_for(dev)
        await client.connect()
        polls = points = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            _, n, _ = await poll_once(client, dev)
            polls += 1
            points += n
        client.close()
        return polls, points

    t0 = time.monotonic()
    polls, points = asyncio.run(main())
    took = time.monotonic() - t0
    return {"polls_per_s": polls / took, "points_per_s": points / took}


def raw_publish(settings: MqttSettings, n: int = 5000) -> float:
    """Bare paho QoS 1 publishes of a 100-sample payload: messages/s, PUBACKs awaited."""
    payload = b"x" * 6000
    client = mqtt.paho_client(settings, "bench-raw", max_inflight=100)
    mqtt.connect_paho(client, settings)
    t0 = time.monotonic()
    infos = [client.publish("forewarn/v1/bench/raw/telemetry", payload, qos=1) for _ in range(n)]
    for info in infos:
        info.wait_for_publish(30)
    took = time.monotonic() - t0
    client.disconnect()
    client.loop_stop()
    return n / took


class Counter:
    def __init__(self, settings: MqttSettings) -> None:
        self.samples = 0
        self.lock = threading.Lock()
        c = mqtt.paho_client(settings, "bench-counter")

        def on_message(cl: Any, u: Any, msg: Any) -> None:
            n = json.loads(msg.payload).get("samples", [])
            with self.lock:
                self.samples += len(n)

        c.on_message = on_message
        c.on_connect = lambda cl, u, f, rc, p=None: cl.subscribe("forewarn/v1/bench/+/telemetry", 1)
        mqtt.connect_paho(c, settings)
        self.client = c

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_gateway(cfg_path: Path, settings: MqttSettings, seconds: float) -> dict[str, float]:
    counter = Counter(settings)
    time.sleep(0.3)

    async def main() -> dict[str, float]:
        gw = Gateway(load(cfg_path, settings))
        task = asyncio.create_task(gw.run())
        await asyncio.sleep(1.5)  # connect and warm up
        p0 = sum(d.points for d in gw.health.devices.values())
        s0 = gw.health.uplink.samples_published
        c0 = counter.samples
        t0 = time.monotonic()
        cpu0 = time.process_time()
        await asyncio.sleep(seconds)
        took = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        p1 = sum(d.points for d in gw.health.devices.values())
        s1 = gw.health.uplink.samples_published
        c1 = counter.samples
        lat = gw.health.uplink.take_latency()
        gw.stop()
        await task
        return {
            "points_per_s": (p1 - p0) / took,
            "samples_acked_per_s": (s1 - s0) / took,
            "samples_received_per_s": (c1 - c0) / took,
            "cpu_share": cpu / took,
            "devices": float(len(gw.config.devices)),
            **lat,
        }

    try:
        return asyncio.run(main())
    finally:
        counter.close()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    broker = Broker(home=tmp / "mqtt").start()
    settings = MqttSettings(url=broker.url)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    sim = ctx.Process(target=_serve_fleet, args=(free_port(), queue), daemon=True)
    sim.start()
    try:
        endpoints = queue.get(timeout=60)
        cfg = _config(tmp, endpoints, period=0.02)
        raw = raw_modbus(cfg, min(DURATION / 2, 5.0))
        pub = raw_publish(settings, 2000 if QUICK else 5000)
        gw = run_gateway(cfg, settings, DURATION)
    finally:
        sim.terminate()
        sim.join(10)
        broker.kill()
    points_per_sample = gw["points_per_s"] / max(gw["samples_acked_per_s"], 1e-9)
    table = Table(
        title=f"gateway throughput ({int(gw['devices'])} simulated devices, {DURATION:.0f} s)"
    )
    for col in ("figure", "value", "ratio"):
        table.add_column(col)
    table.add_row("gateway: points polled /s", f"{gw['points_per_s']:,.0f}", "")
    table.add_row(
        "gateway: samples published (PUBACK) /s",
        f"{gw['samples_acked_per_s']:,.0f}",
        f"{points_per_sample:.1f} points per sample",
    )
    table.add_row("subscriber: samples received /s", f"{gw['samples_received_per_s']:,.0f}", "")
    table.add_row(
        "raw pymodbus, one device back to back: points /s",
        f"{raw['points_per_s']:,.0f}",
        f"gateway = {gw['points_per_s'] / raw['points_per_s']:.2f}x",
    )
    table.add_row("raw paho QoS 1 publishes /s", f"{pub:,.0f}", "")
    table.add_row("gateway process CPU (1.0 = one core)", f"{gw['cpu_share']:.2f}", "")
    us_per_point = gw["cpu_share"] / max(gw["points_per_s"], 1e-9) * 1e6
    ceiling = gw["points_per_s"] / max(gw["cpu_share"], 1e-9)
    gw["cpu_us_per_point"] = us_per_point
    gw["cpu_bound_points_per_s"] = ceiling
    table.add_row(
        "gateway CPU per point (poll+decode+batch+buffer+publish)",
        f"{us_per_point:.0f} µs",
        f"≈ {ceiling:,.0f} points/s per core",
    )
    if "publish_latency_ms_p50" in gw:
        table.add_row(
            "buffer write -> PUBACK latency ms (p50 / max)",
            f"{gw['publish_latency_ms_p50']:.1f} / {gw['publish_latency_ms_max']:.1f}",
            "",
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    out = {"gateway": gw, "raw_modbus": raw, "raw_publish_per_s": pub, "duration_s": DURATION}
    (RESULTS / "gateway_throughput.json").write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"wrote {RESULTS / 'gateway_throughput.json'}")


if __name__ == "__main__":
    main()
