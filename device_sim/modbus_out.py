"""Serve the fleet as Modbus TCP devices (pymodbus), registers laid out by vendor profiles.

Registers are encoded lazily, when a client reads them (pymodbus' device ``action``
hook), from the fleet's latest values: a fleet of thousands costs nothing per step, and
a poll always sees the newest sample. Two layouts:

- ``unit``: up to 247 devices behind one port, told apart by unit id (like an RS-485
  line behind a Modbus gateway); ports are ``base_port``, ``base_port + 1``, ...
- ``port``: one port per device, unit id from the profile (like devices with their own
  Ethernet interface).

A device whose site has lost power answers exception 0x0B (gateway target failed to
respond); in ``port`` layout that matches what a gateway would see through a converter.
Writes are refused (registers are read-only measurements).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from device_sim.engine import Fleet
from forewarn.registers import Point, Profile, RegisterValueError, encode
from forewarn.registers.model import BIT_KINDS

_FC_KIND = {
    1: "coil",
    5: "coil",
    15: "coil",
    2: "discrete",
    3: "holding",
    6: "holding",
    16: "holding",
    4: "input",
}
_KINDS = ("coil", "discrete", "holding", "input")  # pymodbus' tuple order


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the gateway finds one simulated device."""

    asset: str
    asset_class: str
    site: str
    profile: str
    host: str
    port: int
    unit_id: int

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class _Device:
    """One asset's register image, encoded on read."""

    def __init__(self, fleet: Fleet, asset: str, profile: Profile, serial: str) -> None:
        cls, self.index = fleet.where[asset]
        self.max_gap = profile.device.max_gap
        self.group = fleet.groups[cls]
        col = {m: j for j, m in enumerate(self.group.metrics)}
        self.points: dict[str, list[tuple[Point, int | None]]] = {k: [] for k in _KINDS}
        self.static: dict[str, list[int]] = {}
        for p in profile.points:
            self.points[p.kind].append((p, col.get(p.metric) if p.metric else None))
            if p.type == "string":
                text = serial if p.name.startswith("serial") else profile.model
                self.static[p.name] = encode(text[: p.width * 2], p)
        self.starts: dict[str, int] = {}
        for kind in _KINDS:
            pts = [p for p, _ in self.points[kind]]
            if pts:
                low = min(p.address for p in pts)
                self.starts[kind] = low // 16 if kind in BIT_KINDS else low

    def simdata(self) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        blocks: list[list[SimData]] = []
        for kind in _KINDS:
            block = []
            end = None
            for p, _ in sorted(self.points[kind], key=lambda pc: pc[0].address):
                if kind in BIT_KINDS:
                    block.append(SimData(p.address, values=False, datatype=DataType.BITS))
                    continue
                if end is not None and 0 < p.address - end <= self.max_gap:
                    # The profile promises reads may span this gap: serve it as zeros.
                    block.append(
                        SimData(
                            end,
                            count=p.address - end,
                            values=0,
                            datatype=DataType.REGISTERS,
                            readonly=True,
                        )
                    )
                block.append(
                    SimData(
                        p.address,
                        count=p.width,
                        values=0,
                        datatype=DataType.REGISTERS,
                        readonly=True,
                    )
                )
                end = p.end
            if not block:  # pymodbus wants every block non-empty; park a dummy far away
                dummy = 65520 if kind in BIT_KINDS else 65535
                dt = DataType.BITS if kind in BIT_KINDS else DataType.INVALID
                block.append(SimData(dummy, values=False if kind in BIT_KINDS else 0, datatype=dt))
            blocks.append(block)
        return blocks[0], blocks[1], blocks[2], blocks[3]

    def words(self, p: Point, column: int | None) -> list[int]:
        if p.name in self.static:
            return self.static[p.name]
        value = float(self.group.last[self.index, column]) if column is not None else math.nan
        try:
            return encode(value, p, saturate=True)
        except RegisterValueError:  # NaN into an integer without a 'missing' value
            return [0] * p.width

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: Any,
    ) -> ExcCodes | None:
        if set_values is not None and function_code in (5, 6, 15, 16):
            return ExcCodes.ILLEGAL_FUNCTION
        if not self.group.last_online[self.index]:
            return ExcCodes.GATEWAY_NO_RESPONSE
        kind = _FC_KIND.get(function_code)
        if kind is None or kind not in self.starts:
            return None
        base = self.starts[kind]
        for p, col in self.points[kind]:
            if kind in BIT_KINDS:
                reg, bit = divmod(p.address, 16)
                on = self.words(p, col)[0]
                i = reg - base
                current_registers[i] = (
                    (current_registers[i] | (1 << bit))
                    if on
                    else (current_registers[i] & ~(1 << bit))
                )
            elif p.end > address and p.address < address + count:
                off = p.address - base
                current_registers[off : off + p.width] = self.words(p, col)
        return None


class ModbusFleet:
    """Modbus TCP servers for a fleet; ``await start()``, then ``await stop()``."""

    def __init__(
        self,
        fleet: Fleet,
        profiles: dict[str, Profile],
        *,
        host: str = "127.0.0.1",
        base_port: int = 15020,
        layout: str = "unit",
        per_port: int = 247,
    ) -> None:
        if layout not in ("unit", "port"):
            raise ValueError("layout must be 'unit' or 'port'")
        if not 1 <= per_port <= 247:
            raise ValueError("per_port must be 1..247")
        self.fleet, self.host, self.layout = fleet, host, layout
        by_class: dict[str, Profile] = {}
        for p in sorted(profiles.values(), key=lambda p: p.profile):
            by_class.setdefault(p.asset_class, p)
        self.endpoints: list[Endpoint] = []
        self._devices: dict[int, list[tuple[int, _Device]]] = {}
        for i, a in enumerate(fleet.assets):
            name = a.entry.profile
            if name is not None and name not in profiles:
                raise ValueError(f"{a.id}: unknown profile {name!r} (have {sorted(profiles)})")
            prof = profiles[name] if name else by_class.get(a.asset_class)
            if prof is None or prof.asset_class != a.asset_class:
                raise ValueError(f"{a.id}: no {a.asset_class} profile to serve it with")
            if layout == "unit":
                port, unit = base_port + i // per_port, i % per_port + 1
            else:
                port, unit = base_port + i, prof.device.unit_id
            dev = _Device(fleet, a.id, prof, serial=f"SN{fleet.scenario.seed:04d}{i:06d}")
            self._devices.setdefault(port, []).append((unit, dev))
            self.endpoints.append(
                Endpoint(a.id, a.asset_class, a.site, prof.profile, host, port, unit)
            )
        self._servers: list[ModbusTcpServer] = []

    async def start(self) -> None:
        for port, devices in self._devices.items():
            sims = [
                SimDevice(unit, simdata=dev.simdata(), action=dev.action) for unit, dev in devices
            ]
            server = ModbusTcpServer(sims, address=(self.host, port))
            await server.serve_forever(background=True)
            self._servers.append(server)

    async def stop(self) -> None:
        for server in self._servers:
            await server.shutdown()
        self._servers.clear()
        await asyncio.sleep(0)

    def device_map(self) -> list[dict[str, Any]]:
        """Endpoints as dicts, for the gateway's device configuration."""
        return [e.as_dict() for e in self.endpoints]
