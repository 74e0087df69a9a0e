"""Group points into as few Modbus reads as the device allows.

A poll of thirty points one by one is thirty round trips; most devices answer one read
of up to 125 registers. Some devices refuse reads that touch unmapped registers, so the
gap a read may span is configurable (``max_gap``, default 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from forewarn.registers.codec import Value, decode
from forewarn.registers.model import Kind, Point, Profile

MODBUS_MAX_REGISTERS = 125
MODBUS_MAX_BITS = 2000


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read (function code follows from ``kind``) and the points it covers."""

    kind: Kind
    address: int
    count: int
    points: tuple[Point, ...]

    @property
    def function_code(self) -> int:
        return {"coil": 1, "discrete": 2, "holding": 3, "input": 4}[self.kind]

    def decode(self, words: Sequence[int | bool]) -> dict[str, Value]:
        """Response words/bits (``count`` of them) -> point name -> engineering value."""
        if len(words) < self.count:
            raise ValueError(f"read at {self.address} expected {self.count}, got {len(words)}")
        out: dict[str, Value] = {}
        for p in self.points:
            start = p.address - self.address
            out[p.name] = decode(list(words[start : start + p.width]), p)
        return out


def plan_reads(
    points: Iterable[Point],
    *,
    max_registers: int = MODBUS_MAX_REGISTERS,
    max_bits: int = MODBUS_MAX_BITS,
    max_gap: int = 0,
) -> list[ReadRequest]:
    """Coalesce adjacent points of the same kind into reads.

    Points must not overlap (a loaded Profile guarantees it). Reads come out ordered by
    kind, then address; every point is in exactly one read.
    """
    if max_registers < 1 or max_bits < 1 or max_gap < 0:
        raise ValueError("max_registers and max_bits must be >= 1, max_gap >= 0")
    by_kind: dict[str, list[Point]] = {}
    for p in points:
        by_kind.setdefault(p.kind, []).append(p)
    reads: list[ReadRequest] = []
    for kind in ("coil", "discrete", "input", "holding"):
        group = sorted(by_kind.get(kind, []), key=lambda p: p.address)
        limit = max_bits if kind in ("coil", "discrete") else max_registers
        current: list[Point] = []
        start = end = 0
        for p in group:
            if p.width > limit:
                raise ValueError(f"{p.name}: {p.width} registers exceed one read ({limit})")
            if current and p.address - end <= max_gap and p.end - start <= limit:
                current.append(p)
                end = max(end, p.end)
                continue
            if current:
                reads.append(ReadRequest(kind, start, end - start, tuple(current)))
            current, start, end = [p], p.address, p.end
        if current:
            reads.append(ReadRequest(kind, start, end - start, tuple(current)))
    return reads


def plan_profile_reads(profile: Profile) -> list[ReadRequest]:
    """``plan_reads`` with the limits the profile's device section states."""
    d = profile.device
    return plan_reads(
        profile.points,
        max_registers=d.max_registers_per_read,
        max_bits=d.max_bits_per_read,
        max_gap=d.max_gap,
    )
