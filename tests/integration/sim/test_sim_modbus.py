"""Read the simulator's registers with a third-party client (pyModbusTCP) and decode them
here, by the rules docs/register-maps.md states, without forewarn's codec."""

from __future__ import annotations

import asyncio
import math
import socket
import struct

import pytest
from pyModbusTCP.client import ModbusClient

from device_sim import Fleet, load_scenario
from device_sim.modbus_out import ModbusFleet
from forewarn.registers import Point, load_profiles

pytestmark = pytest.mark.integration

FMT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}


def free_port_block(n: int) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65000 and all(_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no free port block")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def by_the_book(words: list[int], p: Point) -> float:
    """Decode as the documentation says: word order first, then bytes within each word."""
    if p.word_order == "little":
        words = words[::-1]
    data = b"".join(w.to_bytes(2, "big" if p.byte_order == "big" else "little") for w in words)
    (raw,) = struct.unpack(">" + FMT[p.type], data)
    if p.missing is not None and raw == p.missing:
        return math.nan
    return raw * p.scale + p.offset


def read_point(c: ModbusClient, p: Point) -> list[int] | list[bool] | None:
    fn = {
        "coil": c.read_coils,
        "discrete": c.read_discrete_inputs,
        "holding": c.read_holding_registers,
        "input": c.read_input_registers,
    }[p.kind]
    return fn(p.address, p.width)


def check_device(c: ModbusClient, fleet: Fleet, asset: str, profile) -> int:
    cls, i = fleet.where[asset]
    group = fleet.groups[cls]
    checked = 0
    for p in profile.points:
        got = read_point(c, p)
        assert got is not None, (asset, p.name, c.last_error_as_txt, c.last_except_as_txt)
        if p.type == "bool":
            assert bool(got[0]) == bool(group.last[i, group.metrics.index(p.metric)])
        elif p.type == "string":
            text = (
                b"".join(w.to_bytes(2, "big" if p.byte_order == "big" else "little") for w in got)
                .rstrip(b"\0")
                .decode()
            )
            assert text and text.isprintable()
        else:
            want = float(group.last[i, group.metrics.index(p.metric)])
            value = by_the_book(list(got), p)
            if math.isnan(want):
                assert math.isnan(value), (asset, p.name)
            elif p.type == "float32":
                assert value == pytest.approx(want, rel=1e-6, abs=1e-6), (asset, p.name)
            elif p.type == "float64":
                assert value == want, (asset, p.name)
            else:  # scaled integer: within half a step
                assert abs(value - want) <= abs(p.scale) / 2 + 1e-9, (asset, p.name, value, want)
        checked += 1
    return checked


def test_every_profile_reads_back_as_promised_unit_layout():
    scenario = load_scenario("default")
    profiles = load_profiles()
    fleet = Fleet(scenario)
    base = free_port_block(2)

    async def main() -> int:
        server = ModbusFleet(fleet, profiles, base_port=base, layout="unit", per_port=20)
        await server.start()
        try:
            for _ in range(3):
                fleet.step()

            def read_all() -> int:
                n = 0
                seen = set()
                for e in server.endpoints:
                    if e.profile in seen and e.port == base:
                        continue  # one device per profile and port is enough
                    seen.add(e.profile)
                    c = ModbusClient(host=e.host, port=e.port, unit_id=e.unit_id, timeout=3)
                    try:
                        n += check_device(c, fleet, e.asset, profiles[e.profile])
                    finally:
                        c.close()
                return n

            return await asyncio.to_thread(read_all)
        finally:
            await server.stop()

    checked = asyncio.run(main())
    assert checked >= sum(len(p.points) for p in profiles.values())


def test_port_layout_coalesced_reads_power_loss_and_writes():
    scenario = load_scenario("default")
    profiles = load_profiles()
    fleet = Fleet(scenario)
    cut = next(f for f in scenario.faults if f.fault == "power_loss")
    base = free_port_block(len(fleet.assets))

    async def main() -> None:
        server = ModbusFleet(fleet, profiles, base_port=base, layout="port")
        await server.start()
        try:
            fleet.step()
            north = next(e for e in server.endpoints if e.asset_class == "electric_motor")
            south = next(e for e in server.endpoints if e.site == "south")
            prof = profiles[north.profile]
            assert north.unit_id == prof.device.unit_id and north.port != south.port

            def healthy() -> None:
                c = ModbusClient(host=north.host, port=north.port, unit_id=north.unit_id)
                # The whole holding block in one read, gap registers included (max_gap 2).
                words = c.read_holding_registers(0, 15)
                assert words is not None, c.last_except_as_txt
                power = prof.point("power")
                assert by_the_book(words[6:8], power) == pytest.approx(
                    fleet.groups["electric_motor"].last[
                        0, fleet.groups["electric_motor"].metrics.index("power_kw")
                    ],
                    abs=1e-3,
                )
                # Measurements are read-only: a write is refused, and nothing changes.
                assert not c.write_single_register(1, 1234)
                c.close()

            await asyncio.to_thread(healthy)
            fleet.k = int(cut.at // scenario.sample_period_s)
            fleet.step()

            def dark() -> None:
                c = ModbusClient(host=south.host, port=south.port, unit_id=south.unit_id)
                assert c.read_input_registers(0, 2) is None
                assert c.last_except == 0x0B  # gateway target device failed to respond
                c.close()

            await asyncio.to_thread(dark)
        finally:
            await server.stop()

    asyncio.run(main())


def test_coalesced_reads_as_a_gateway_would_do_them():
    """Poll each profile with plan_profile_reads (few big reads), decode with ReadRequest."""
    from forewarn.registers import plan_profile_reads

    scenario = load_scenario("default")
    profiles = load_profiles()
    fleet = Fleet(scenario)
    base = free_port_block(1)

    async def main() -> None:
        server = ModbusFleet(fleet, profiles, base_port=base, layout="unit")
        await server.start()
        try:
            fleet.step()

            def poll() -> None:
                done = set()
                for e in server.endpoints:
                    if e.profile in done:
                        continue
                    done.add(e.profile)
                    prof = profiles[e.profile]
                    reads = plan_profile_reads(prof)
                    assert len(reads) < len(prof.points)
                    c = ModbusClient(host=e.host, port=e.port, unit_id=e.unit_id, timeout=3)
                    cls, i = fleet.where[e.asset]
                    g = fleet.groups[cls]
                    for r in reads:
                        assert r.count <= prof.device.max_registers_per_read
                        words = (
                            read_point(
                                c,
                                Point(
                                    name="r",
                                    kind=r.kind,
                                    address=r.address,
                                    type="string" if r.count > 1 else "uint16",
                                    count=r.count if r.count > 1 else None,
                                ),
                            )
                            if r.kind in ("input", "holding")
                            else (
                                c.read_coils(r.address, r.count)
                                if r.kind == "coil"
                                else c.read_discrete_inputs(r.address, r.count)
                            )
                        )
                        assert words is not None, (e.profile, r, c.last_except_as_txt)
                        for name, value in r.decode(words).items():
                            p = prof.point(name)
                            if p.metric is None:
                                continue
                            want = float(g.last[i, g.metrics.index(p.metric)])
                            if math.isnan(want):
                                assert isinstance(value, float) and math.isnan(value)
                            else:
                                tol = abs(p.scale) / 2 + 1e-6 * abs(want) + 1e-9
                                assert abs(float(value) - want) <= tol, (e.profile, name)
                    c.close()
                assert done == set(profiles)

            await asyncio.to_thread(poll)
        finally:
            await server.stop()

    asyncio.run(main())
