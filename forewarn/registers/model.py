"""The vendor register map (profile): which registers hold which value, and how.

One profile describes one device model. The simulator serves profiles and the gateway
polls them, so both read these models and neither imports the other.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from forewarn.registers.source import Loc

ASSET_CLASSES = ("centrifugal_pump", "electric_motor", "air_compressor", "chiller")
AssetClass = Literal["centrifugal_pump", "electric_motor", "air_compressor", "chiller"]

Kind = Literal["coil", "discrete", "input", "holding"]
PointType = Literal["bool", "int16", "uint16", "int32", "uint32", "float32", "float64", "string"]
Order = Literal["big", "little"]

#: Registers per value; ``string`` takes its ``count`` from the point.
WIDTH: dict[str, int] = {
    "bool": 1,
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
}
RAW_RANGE: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
BIT_KINDS = ("coil", "discrete")
MAX_ADDRESS = 65535

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def _finite_nonzero(value: float) -> float:
    if not math.isfinite(value) or value == 0:
        raise ValueError("scale must be a finite, non-zero number")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceSettings(_Strict):
    """How to talk to the device (the gateway's polling parameters)."""

    unit_id: int = Field(1, ge=0, le=247, description="Modbus unit (slave) id")
    poll_period_s: float = Field(1.0, gt=0, le=3600)
    timeout_s: float = Field(1.0, gt=0, le=60)
    retries: int = Field(2, ge=0, le=10)
    max_registers_per_read: int = Field(125, ge=1, le=125, description="Modbus limit is 125")
    max_bits_per_read: int = Field(2000, ge=1, le=2000, description="Modbus limit is 2000")
    max_gap: int = Field(
        0, ge=0, le=100, description="unmapped registers a read may span (0: never read gaps)"
    )


class Point(_Strict):
    """One value: where it lives, how it is encoded, what it means."""

    name: Name
    kind: Kind
    address: int = Field(ge=0, le=MAX_ADDRESS, description="0-based protocol address")
    type: PointType
    count: int | None = Field(
        None, ge=1, le=125, description="registers; required for strings, checked otherwise"
    )
    byte_order: Order = "big"
    word_order: Order = "big"
    scale: Annotated[float, AfterValidator(_finite_nonzero)] = 1.0
    offset: Annotated[float, AfterValidator(_finite)] = 0.0
    unit: str | None = Field(None, max_length=32)
    metric: Name | None = Field(None, description="telemetry metric fed; None: not telemetry")
    missing: int | None = Field(
        None, description="raw integer that means 'no reading' (e.g. 0x8000 for int16)"
    )
    description: str | None = Field(None, max_length=500)

    @property
    def width(self) -> int:
        """Registers (or bits, for coils and discrete inputs) the point occupies."""
        if self.type == "string":
            return self.count or 1
        return WIDTH[self.type]

    @property
    def is_bit(self) -> bool:
        return self.kind in BIT_KINDS

    @property
    def end(self) -> int:
        """First address after the point."""
        return self.address + self.width


class Defaults(_Strict):
    """Profile-wide defaults; a point's own setting wins."""

    byte_order: Order = "big"
    word_order: Order = "big"


class Profile(_Strict):
    """A device model's register map."""

    profile: Ident = Field(description="unique profile name, e.g. acme_centrifugal_pump")
    vendor: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=100)
    asset_class: AssetClass
    description: str | None = None
    device: DeviceSettings = Field(default_factory=lambda: DeviceSettings.model_validate({}))
    defaults: Defaults = Field(default_factory=lambda: Defaults.model_validate({}))
    points: list[Point] = Field(min_length=1, max_length=2000)

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def metrics(self) -> dict[str, Point]:
        """Telemetry metric name -> point."""
        return {p.metric: p for p in self.points if p.metric is not None}

    def layout_problems(self) -> list[tuple[Loc, str]]:
        """Cross-point checks pydantic cannot express per field (empty when fine)."""
        out: list[tuple[Loc, str]] = []
        names: dict[str, int] = {}
        metrics: dict[str, int] = {}
        for i, p in enumerate(self.points):
            out.extend(((("points", i, *loc)), why) for loc, why in point_problems(p))
            if p.name in names:
                out.append(
                    (
                        ("points", i, "name"),
                        f"duplicate name {p.name!r} (also points[{names[p.name]}])",
                    )
                )
            names.setdefault(p.name, i)
            if p.metric is not None:
                if p.metric in metrics:
                    out.append(
                        (
                            ("points", i, "metric"),
                            f"duplicate metric {p.metric!r} (also points[{metrics[p.metric]}])",
                        )
                    )
                metrics.setdefault(p.metric, i)
        for kind in ("coil", "discrete", "input", "holding"):
            spans = sorted(
                (p.address, p.end, i) for i, p in enumerate(self.points) if p.kind == kind
            )
            for (a0, e0, i0), (a1, _e1, i1) in itertools.pairwise(spans):
                if a1 < e0:
                    first, second = self.points[i0], self.points[i1]
                    out.append(
                        (
                            ("points", i1, "address"),
                            (
                                f"{kind} {a1}..{second.end - 1} of {second.name!r} overlaps "
                                f"{a0}..{e0 - 1} of {first.name!r}"
                            ),
                        )
                    )
        return out


def point_problems(p: Point) -> list[tuple[Loc, str]]:
    """Checks of one point that span several of its fields."""
    out: list[tuple[Loc, str]] = []
    if p.is_bit and p.type != "bool":
        out.append((("type",), f"a {p.kind} holds one bit: type must be bool, not {p.type}"))
    if p.type == "string":
        if p.count is None:
            out.append((("count",), "a string needs count (registers, 2 characters each)"))
        if p.metric is not None:
            out.append((("metric",), "a string cannot feed a numeric metric"))
    elif p.count is not None and p.count != WIDTH[p.type]:
        out.append((("count",), f"{p.type} occupies {WIDTH[p.type]} register(s), not {p.count}"))
    if p.end - 1 > MAX_ADDRESS:
        out.append((("address",), f"runs past the last address {MAX_ADDRESS}"))
    if p.missing is not None:
        if p.type not in RAW_RANGE:
            out.append((("missing",), "only integer types use a 'missing' raw value"))
        elif not RAW_RANGE[p.type][0] <= p.missing <= RAW_RANGE[p.type][1]:
            lo, hi = RAW_RANGE[p.type]
            out.append((("missing",), f"{p.missing} is not a {p.type} ({lo}..{hi})"))
    return out
