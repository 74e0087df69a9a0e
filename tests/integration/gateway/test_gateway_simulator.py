"""The gateway against the simulator's Modbus servers (pymodbus server, vendor profiles):
every point of every shipped profile decodes to the value the fleet holds."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from typer.testing import CliRunner

from device_sim import Fleet, load_scenario
from device_sim.modbus_out import ModbusFleet
from forewarn.registers import load_profiles
from forewarn.testing import free_port
from gateway import load
from gateway.cli import app
from gateway.poller import client_for, poll_once

pytestmark = pytest.mark.integration


def test_every_shipped_profile_decodes_from_the_simulator(tmp_path):
    profiles = load_profiles()
    fleet = Fleet(load_scenario("default"))
    port = free_port()

    async def main():
        server = ModbusFleet(fleet, profiles, base_port=port, layout="unit", per_port=247)
        await server.start()
        try:
            for _ in range(3):
                fleet.step()
            # The simulator's device map -> `forewarn gateway from-map` -> a gateway config.
            map_path = tmp_path / "devices.json"
            map_path.write_text(json.dumps(server.device_map()))
            cfg_path = tmp_path / "gw.yaml"
            result = CliRunner().invoke(
                app,
                [
                    "from-map",
                    str(map_path),
                    "--site",
                    "north",
                    "--gateway",
                    "gw-north",
                    "--out",
                    str(cfg_path),
                ],
            )
            assert result.exit_code == 0, result.output
            north = [e for e in server.endpoints if e.site == "north"]
            cfg = load(cfg_path)
            assert {d.profile.profile for d in cfg.devices} == set(profiles)
            assert len(cfg.devices) == len(north)
            out = {}
            for dev in cfg.devices:
                client = client_for(dev)
                assert await client.connect()
                try:
                    out[dev.asset] = (dev, await poll_once(client, dev))
                finally:
                    client.close()
            return out
        finally:
            await server.stop()

    results = asyncio.run(main())
    checked = 0
    for asset, (dev, (values, npoints, failures)) in results.items():
        assert failures == [], (asset, failures)
        assert npoints == len(dev.profile.points)
        cls, i = fleet.where[asset]
        group = fleet.groups[cls]
        for p in dev.profile.points:
            if p.metric is None:
                continue
            want = float(group.last[i, group.metrics.index(p.metric)])
            if math.isnan(want):
                assert p.metric not in values
                continue
            got = values[p.metric]
            if p.type == "bool":
                assert got == float(bool(want))
            elif p.type == "float32":
                assert got == pytest.approx(want, rel=1e-6, abs=1e-6), (asset, p.name)
            elif p.type == "float64":
                assert got == want
            else:  # scaled integers are exact to half a step
                assert abs(got - want) <= abs(p.scale) / 2 + 1e-9, (asset, p.name, got, want)
            checked += 1
    assert checked > 100
