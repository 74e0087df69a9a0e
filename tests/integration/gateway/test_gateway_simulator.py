"""The gateway against the simulator's Modbus servers (pymodbus server, vendor profiles):
every point of every shipped profile decodes to the value the fleet holds."""

from __future__ import annotations

import asyncio
import math

import pytest
import yaml

from device_sim import Fleet, load_scenario
from device_sim.modbus_out import ModbusFleet
from forewarn.registers import load_profiles
from forewarn.testing import free_port
from gateway import load
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
            north = [e for e in server.endpoints if e.site == "north"]
            cfg_path = tmp_path / "gw.yaml"
            cfg_path.write_text(
                yaml.safe_dump(
                    {
                        "gateway": "gw-north",
                        "site": "north",
                        "buffer": {"path": str(tmp_path / "b.sqlite")},
                        "devices": [
                            {
                                "id": f"d-{e.asset}",
                                "host": e.host,
                                "port": e.port,
                                "unit_id": e.unit_id,
                                "profile": e.profile,
                                "asset": e.asset,
                            }
                            for e in north
                        ],
                    }
                )
            )
            cfg = load(cfg_path)
            assert {d.profile.profile for d in cfg.devices} == set(profiles)
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
