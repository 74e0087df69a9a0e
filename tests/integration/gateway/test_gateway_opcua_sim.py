"""The gateway against the simulator's OPC UA server (asyncua server, generated node maps):
every metric of every asset of a site arrives upstream with the fleet's value, stamped
with the simulated time, through the normal batcher, buffer and MQTT uplink. An asset
whose site lost power is sent as bad quality by the server and must not be published."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

from device_sim import Fleet, load_scenario
from device_sim.opcua_out import OpcuaFleet
from forewarn.settings import MqttSettings
from forewarn.testing import free_port
from gateway import Gateway, load

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_gateway_reads_every_metric_from_the_simulator(tmp_path, broker, consumer_factory):
    fleet = Fleet(load_scenario("default"))
    settings = MqttSettings(url=broker.url)
    consumer = consumer_factory(settings, "sim-opcua")
    frames: list[Any] = []

    async def main() -> Gateway:
        server = OpcuaFleet(fleet, port=free_port())
        await server.start()
        try:
            paths = server.write_configs(tmp_path, publishing_interval_ms=50)
            cfg = load(next(p for p in paths if p.stem == "north"), settings)
            assert {a.asset for a in cfg.opcua[0].assets} == {
                a.id for a in fleet.assets if a.site == "north"
            }
            gw = Gateway(cfg)
            task = asyncio.create_task(gw.run())
            health = gw.health.devices["sim-north"]
            deadline = time.monotonic() + 60
            for _ in range(600):
                if health.state == "online":
                    break
                await asyncio.sleep(0.1)
            assert health.state == "online", health.last_error
            for _ in range(4):
                frame = fleet.step()
                await server.write(frame)
                frames.append(frame)
                await asyncio.sleep(0.15)
            want = {(a.id, f.ts) for a in fleet.assets if a.site == "north" for f in frames}
            while time.monotonic() < deadline:
                with consumer.lock:
                    have = {(b.asset, s.ts) for b in consumer.batches for s in b.samples}
                if want <= have:
                    break
                await asyncio.sleep(0.1)
            gw.stop()
            await task
            return gw
        finally:
            await server.stop()

    asyncio.run(main())
    with consumer.lock:
        got = {(b.asset, s.ts): s.values for b in consumer.batches for s in b.samples}
    checked = offline = 0
    for a in fleet.assets:
        if a.site != "north":
            continue
        cls, i = fleet.where[a.id]
        metrics = fleet.groups[cls].metrics
        for f in frames:
            values = got.get((a.id, f.ts), {})
            for j, m in enumerate(metrics):
                want = float(f.values[cls][i, j])
                if not f.online[cls][i] or math.isnan(want):
                    assert m not in values  # bad quality is not telemetry
                    offline += 1
                    continue
                assert values[m] == pytest.approx(want, rel=1e-12), (a.id, f.ts, m)
                checked += 1
    assert checked > 100


def test_sim_cli_serves_opcua_and_writes_valid_gateway_configs(tmp_path):
    """`forewarn sim run --opcua --opcua-configs DIR`: node maps and per-site gateway configs
    that the gateway accepts, pointing at the server it served."""
    from typer.testing import CliRunner

    from device_sim.cli import app

    port = free_port()
    out = tmp_path / "ua"
    res = CliRunner().invoke(
        app,
        [
            "run",
            "default",
            "--opcua",
            "--opcua-port",
            str(port),
            "--opcua-configs",
            str(out),
            "--speed",
            "50",
            "--duration",
            "10s",
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert f"opc.tcp://127.0.0.1:{port}/forewarn/" in res.output
    configs = {p.stem: load(p) for p in out.glob("*.yaml")}
    assert set(configs) == {"north", "south"}
    fleet = Fleet(load_scenario("default"))
    for site, cfg in configs.items():
        (server,) = cfg.opcua
        assert server.url == f"opc.tcp://127.0.0.1:{port}/forewarn/"
        assert {a.asset for a in server.assets} == {x.id for x in fleet.assets if x.site == site}
        for a in server.assets:
            cls = fleet.where[a.asset][0]
            assert [n.metric for n in a.nodemap.nodes] == list(fleet.groups[cls].metrics)
