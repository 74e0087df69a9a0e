"""OPC UA points per second through one gateway, beside a bare asyncua client.

The simulator's fleet (default scenario, 36 assets, ~570 Double variables) is served by
the simulator's asyncua server in a separate process that writes new frames back to back.
One gateway reads every asset of the fleet from it, (1) by subscription (sampling 0 ms,
publishing 50 ms, every new source timestamp reported) and (2) by polling every 10 ms,
batches, writes its durable SQLite buffer and publishes QoS 1 to a private Mosquitto,
where a subscriber counts samples. Baselines in the same run, against the same server: a
bare asyncua client with the same subscription counting notifications, and a bare
asyncua client reading all nodes back to back.

    python -m bench.gateway_opcua   (FOREWARN_BENCH_QUICK=1 for a short run)
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from asyncua import Client, ua
from rich.console import Console
from rich.table import Table

from bench.gateway_throughput import Counter
from forewarn.settings import MqttSettings
from forewarn.testing import Broker, free_port
from gateway import Gateway, load

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = bool(os.environ.get("FOREWARN_BENCH_QUICK"))
DURATION = 4.0 if QUICK else 10.0
FRAME_S = 0.05  # the simulator writes a frame (every variable) 20 times a second
console = Console()


def _serve(port: int, ready: Any, writes: Any) -> None:
    from device_sim import Fleet, load_scenario
    from device_sim.opcua_out import OpcuaFleet

    async def main() -> None:
        fleet = Fleet(load_scenario("default"))
        server = OpcuaFleet(fleet, port=port)
        await server.start()
        ready.set()
        while True:
            await server.write(fleet.step())
            writes.value = server.writes
            await asyncio.sleep(FRAME_S)

    asyncio.run(main())


def _config(tmp: Path, port: int, **server: Any) -> Path:
    from device_sim import Fleet, load_scenario
    from device_sim.opcua_out import OpcuaFleet

    ua_fleet = OpcuaFleet(Fleet(load_scenario("default")), port=port)
    ua_fleet.write_configs(tmp)  # node maps in tmp/nodemaps
    assets = []
    for site in ua_fleet.sites:
        cfg = ua_fleet.gateway_config(site, "gw", (tmp / "nodemaps").resolve())
        assets += cfg["opcua"][0]["assets"]
    doc = {
        "gateway": "gw-bench-ua",
        "site": "bench",
        "batch": {"max_samples": 100, "max_latency_s": 0.5},
        "buffer": {"path": str(tmp / f"buffer-{server.get('mode', 'subscribe')}.sqlite")},
        "status_period_s": 5,
        "opcua": [{"id": "sim", "url": ua_fleet.url, **server, "assets": assets}],
    }
    path = tmp / f"gw-{server.get('mode', 'subscribe')}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_gateway(
    cfg_path: Path, settings: MqttSettings, seconds: float, writes: Any
) -> dict[str, float]:
    counter = Counter(settings)
    time.sleep(0.3)

    async def main() -> dict[str, Any]:
        gw = Gateway(load(cfg_path, settings))
        task = asyncio.create_task(gw.run())
        health = gw.health.devices["sim"]
        for _ in range(300):
            if health.state == "online":
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # warm up
        p0, s0, c0, w0 = (
            health.points,
            gw.health.uplink.samples_published,
            counter.samples,
            writes.value,
        )
        t0, cpu0 = time.monotonic(), time.process_time()
        await asyncio.sleep(seconds)
        took, cpu = time.monotonic() - t0, time.process_time() - cpu0
        out = {
            "points_per_s": (health.points - p0) / took,
            "samples_acked_per_s": (gw.health.uplink.samples_published - s0) / took,
            "samples_received_per_s": (counter.samples - c0) / took,
            "server_writes_per_s": (writes.value - w0) / took,
            "cpu_share": cpu / took,
            "state": 1.0 if health.state == "online" else 0.0,
            "last_error": health.last_error,
        }
        gw.stop()
        await task
        return out

    try:
        return asyncio.run(main())
    finally:
        counter.close()


async def _bare_nodes(client: Client, cfg_path: Path) -> list[Any]:
    server = load(cfg_path).opcua[0]
    idx = await client.get_namespace_index("urn:forewarn:sim")
    return [
        client.get_node(ua.NodeId(ua.String(f"{a.asset}.{n.metric}"), ua.Int16(idx)))
        for a in server.assets
        for n in a.nodemap.nodes
    ]


def bare_subscription(cfg_path: Path, seconds: float, writes: Any) -> dict[str, float]:
    """asyncua alone: the same subscription parameters, notifications counted."""

    class Handler:
        n = 0

        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            Handler.n += 1

    async def main() -> dict[str, float]:
        client = Client(load(cfg_path).opcua[0].url)
        await client.connect()
        try:
            nodes = await _bare_nodes(client, cfg_path)
            sub = await client.create_subscription(50, Handler())
            reqs = []
            for h, node in enumerate(nodes, start=1):
                p = ua.MonitoringParameters()
                p.ClientHandle, p.SamplingInterval, p.QueueSize = (
                    ua.UInt32(h),
                    ua.Double(0),
                    ua.UInt32(100),
                )
                p.Filter = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
                item = ua.ReadValueId()
                item.NodeId, item.AttributeId = node.nodeid, ua.AttributeIds.Value
                reqs.append(ua.MonitoredItemCreateRequest(item, ua.MonitoringMode.Reporting, p))
            await sub.create_monitored_items(reqs)
            await asyncio.sleep(1.0)
            n0, w0, t0, cpu0 = Handler.n, writes.value, time.monotonic(), time.process_time()
            await asyncio.sleep(seconds)
            took, cpu = time.monotonic() - t0, time.process_time() - cpu0
            return {
                "points_per_s": (Handler.n - n0) / took,
                "server_writes_per_s": (writes.value - w0) / took,
                "cpu_share": cpu / took,
            }
        finally:
            await client.disconnect()

    return asyncio.run(main())


def bare_reads(cfg_path: Path, seconds: float) -> dict[str, float]:
    """asyncua alone: read every node in one request, back to back."""

    async def main() -> dict[str, float]:
        client = Client(load(cfg_path).opcua[0].url)
        await client.connect()
        try:
            nodes = await _bare_nodes(client, cfg_path)
            points, t0, cpu0 = 0, time.monotonic(), time.process_time()
            while time.monotonic() - t0 < seconds:
                await client.read_attributes(nodes, ua.AttributeIds.Value)
                points += len(nodes)
            took, cpu = time.monotonic() - t0, time.process_time() - cpu0
            return {
                "points_per_s": points / took,
                "nodes": float(len(nodes)),
                "cpu_share": cpu / took,
            }
        finally:
            await client.disconnect()

    return asyncio.run(main())


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gw-ua-bench-"))
    broker = Broker(home=tmp / "mqtt").start()
    settings = MqttSettings(url=broker.url)
    ctx = mp.get_context("spawn")
    ready, writes = ctx.Event(), ctx.Value("q", 0)
    port = free_port()
    sim = ctx.Process(target=_serve, args=(port, ready, writes), daemon=True)
    sim.start()
    try:
        assert ready.wait(120), "simulator did not start"
        sub_cfg = _config(tmp, port, publishing_interval_ms=50, sampling_interval_ms=0)
        poll_cfg = _config(tmp, port, mode="poll", poll_period_s=0.01)
        bare_sub = bare_subscription(sub_cfg, DURATION, writes)
        gw_sub = run_gateway(sub_cfg, settings, DURATION, writes)
        bare_read = bare_reads(poll_cfg, DURATION / 2)
        gw_poll = run_gateway(poll_cfg, settings, DURATION, writes)
    finally:
        sim.terminate()
        sim.join(10)
        broker.kill()
    table = Table(
        title=f"OPC UA gateway ({int(bare_read['nodes'])} nodes, 36 assets, {DURATION:.0f} s)"
    )
    for col in ("figure", "points/s", "ratio"):
        table.add_column(col)
    table.add_row(
        "simulator server: values written (during gateway subscription)",
        f"{gw_sub['server_writes_per_s']:,.0f}",
        "",
    )
    table.add_row(
        "bare asyncua client, subscription: notifications",
        f"{bare_sub['points_per_s']:,.0f}",
        f"of {bare_sub['server_writes_per_s']:,.0f} written",
    )
    table.add_row(
        "gateway, subscription: points",
        f"{gw_sub['points_per_s']:,.0f}",
        f"= {gw_sub['points_per_s'] / max(bare_sub['points_per_s'], 1e-9):.2f}x bare client",
    )
    table.add_row(
        "gateway, subscription: samples acked / received",
        f"{gw_sub['samples_acked_per_s']:,.0f} / {gw_sub['samples_received_per_s']:,.0f}",
        "samples/s",
    )
    table.add_row(
        "bare asyncua client, read all nodes back to back", f"{bare_read['points_per_s']:,.0f}", ""
    )
    table.add_row(
        "gateway, polling every 10 ms: points",
        f"{gw_poll['points_per_s']:,.0f}",
        f"= {gw_poll['points_per_s'] / max(bare_read['points_per_s'], 1e-9):.2f}x bare reads",
    )
    table.add_row(
        "gateway, polling: samples acked / received",
        f"{gw_poll['samples_acked_per_s']:,.0f} / {gw_poll['samples_received_per_s']:,.0f}",
        "samples/s",
    )
    for r in (bare_sub, bare_read):
        r["cpu_us_per_point"] = r["cpu_share"] / max(r["points_per_s"], 1e-9) * 1e6
    for name, r, bare in (("subscription", gw_sub, bare_sub), ("polling", gw_poll, bare_read)):
        us = r["cpu_share"] / max(r["points_per_s"], 1e-9) * 1e6
        r["cpu_us_per_point"] = us
        table.add_row(
            f"CPU per point, {name}: gateway (subscribe/poll, batch, buffer, publish)"
            " vs bare asyncua client",
            f"{us:.0f} µs vs {bare['cpu_us_per_point']:.0f} µs",
            f"gateway ≈ {r['points_per_s'] / max(r['cpu_share'], 1e-9):,.0f} points/s per core",
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    out = {
        "duration_s": DURATION,
        "gateway_subscription": gw_sub,
        "bare_subscription": bare_sub,
        "gateway_poll": gw_poll,
        "bare_reads": bare_read,
    }
    (RESULTS / "gateway_opcua.json").write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"wrote {RESULTS / 'gateway_opcua.json'}")


if __name__ == "__main__":
    main()
