"""Scenarios: fleet, sites, injected degradations and faults, seed, time. YAML in, checked.

A scenario is the whole experiment: the same file and seed give the same data and the
same ground truth, so detector results can be compared run to run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from forewarn.registers.model import AssetClass
from forewarn.registers.source import (
    Loc,
    Marks,
    SourceError,
    load_yaml,
    parse_yaml,
    refuse,
    validate_document,
)

Mode = Literal["bearing_wear", "seal_leak", "clogged_filter", "winding_insulation", "cavitation"]
MODES: tuple[str, ...] = (
    "bearing_wear",
    "seal_leak",
    "clogged_filter",
    "winding_insulation",
    "cavitation",
)
#: Which degradation modes each asset class can suffer (the physics in classes.py).
MODES_BY_CLASS: dict[str, tuple[str, ...]] = {
    "centrifugal_pump": MODES,
    "electric_motor": ("bearing_wear", "winding_insulation"),
    "air_compressor": ("bearing_wear", "seal_leak", "clogged_filter", "winding_insulation"),
    "chiller": ("bearing_wear", "seal_leak", "clogged_filter", "winding_insulation"),
}
ABBREVIATION = {
    "centrifugal_pump": "P",
    "electric_motor": "M",
    "air_compressor": "C",
    "chiller": "CH",
}

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")


def parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"15m"``, ``"1d12h"``, ``"2w"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '15m', '2h', '1d12h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration like '90s', '15m', '2h', '1d12h'")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError("a duration is a number of seconds or text like '15m', '2h', '1d12h'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(_Strict):
    id: Id
    name: str | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    utc_offset_h: float = Field(0.0, ge=-12, le=14, description="for local daily cycles")
    ambient_mean_c: float = Field(20.0, ge=-40, le=50)
    ambient_swing_c: float = Field(5.0, ge=0, le=20, description="day/night amplitude")


class FleetEntry(_Strict):
    site: Id
    asset_class: AssetClass
    count: int = Field(ge=1, le=100_000)
    prefix: Id | None = Field(None, description="asset ids are prefix + 001, 002, ...")
    first: int = Field(1, ge=0)
    profile: Id | None = Field(None, description="register map served over Modbus")
    duty: Literal["continuous", "shift"] = "continuous"
    load: float = Field(0.8, ge=0.1, le=1.0, description="typical load at the daily peak")


class Degradation(_Strict):
    asset: Id
    mode: Mode
    onset: Duration = Field(description="time after start when the fault begins")
    failure_after: Duration = Field(description="time from onset to functional failure")
    repair_after: Duration | None = Field(
        None, description="time from failure until the asset runs healthy again"
    )
    shape: float = Field(2.5, ge=1, le=6, description="severity = progress ** shape")


class Fault(_Strict):
    fault: Literal["trip", "power_loss"]
    asset: Id | None = None
    site: Id | None = Field(None, description="power_loss only: the whole site goes dark")
    at: Duration
    duration: Duration


class SensorFaults(_Strict):
    dropouts_per_asset_day: float = Field(0.2, ge=0, le=100)
    stuck_per_asset_day: float = Field(0.05, ge=0, le=100)
    mean_duration: Duration = Field(900.0)


class Scenario(_Strict):
    name: Id
    description: str | None = None
    seed: int = Field(0, ge=0)
    start: AwareDatetime | None = Field(None, description="simulated start; omitted: now")
    duration: Duration = Field(30 * 86400.0, gt=0)
    sample_period_s: float = Field(1.0, gt=0, le=3600)
    speed: float = Field(1.0, gt=0, description="simulated seconds per wall second")
    batch_samples: int = Field(10, ge=1, le=10_000, description="samples per MQTT message")
    noise: float = Field(1.0, ge=0, le=10)
    stops_per_asset_day: float = Field(0.3, ge=0, le=48)
    sites: list[Site] = Field(min_length=1)
    fleet: list[FleetEntry] = Field(min_length=1)
    degradations: list[Degradation] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    sensor_faults: SensorFaults = Field(default_factory=lambda: SensorFaults.model_validate({}))

    def assets(self) -> list[AssetSpec]:
        """Every asset, in fleet order (the order fixes ids, never random draws)."""
        out = []
        for i, entry in enumerate(self.fleet):
            prefix = entry.prefix or f"{entry.site}-{ABBREVIATION[entry.asset_class]}"
            for k in range(entry.count):
                out.append(AssetSpec(f"{prefix}{entry.first + k:03d}", entry, i))
        return out

    def site(self, site_id: str) -> Site:
        return next(s for s in self.sites if s.id == site_id)

    def problems(self) -> list[tuple[Loc, str]]:
        """Checks across sections (empty when the scenario is consistent)."""
        out: list[tuple[Loc, str]] = []
        sites = {}
        for i, s in enumerate(self.sites):
            if s.id in sites:
                out.append((("sites", i, "id"), f"duplicate site {s.id!r}"))
            sites[s.id] = s
        for i, entry in enumerate(self.fleet):
            if entry.site not in sites:
                out.append((("fleet", i, "site"), f"unknown site {entry.site!r}"))
        ids: dict[str, AssetSpec] = {}
        for a in self.assets():
            if a.id in ids:
                out.append((("fleet", a.entry_index), f"asset id {a.id!r} is generated twice"))
            ids[a.id] = a
        seen: set[tuple[str, str]] = set()
        for i, d in enumerate(self.degradations):
            if d.asset not in ids:
                out.append((("degradations", i, "asset"), f"unknown asset {d.asset!r}"))
                continue
            cls = ids[d.asset].asset_class
            if d.mode not in MODES_BY_CLASS[cls]:
                out.append(
                    (
                        ("degradations", i, "mode"),
                        f"{cls} has no mode {d.mode!r} (it has {', '.join(MODES_BY_CLASS[cls])})",
                    )
                )
            if (d.asset, d.mode) in seen:
                out.append((("degradations", i), f"{d.asset} already degrades by {d.mode}"))
            seen.add((d.asset, d.mode))
            if d.failure_after <= 0:
                out.append((("degradations", i, "failure_after"), "must be positive"))
        for i, f in enumerate(self.faults):
            if (f.asset is None) == (f.site is None):
                out.append((("faults", i), "give exactly one of asset or site"))
            elif f.fault == "trip" and f.asset is None:
                out.append((("faults", i, "site"), "a trip affects one asset: give asset"))
            elif f.asset is not None and f.asset not in ids:
                out.append((("faults", i, "asset"), f"unknown asset {f.asset!r}"))
            elif f.site is not None and f.site not in sites:
                out.append((("faults", i, "site"), f"unknown site {f.site!r}"))
        return out


class AssetSpec:
    """One simulated asset: id plus the fleet entry it came from."""

    __slots__ = ("entry", "entry_index", "id")

    def __init__(self, asset_id: str, entry: FleetEntry, entry_index: int) -> None:
        self.id = asset_id
        self.entry = entry
        self.entry_index = entry_index

    @property
    def asset_class(self) -> str:
        return self.entry.asset_class

    @property
    def site(self) -> str:
        return self.entry.site

    def __repr__(self) -> str:
        return f"AssetSpec({self.id!r}, {self.asset_class}, {self.site})"


class ScenarioError(SourceError):
    """A scenario file is refused."""


def _validate(data: Any, marks: Marks, file: str) -> Scenario:
    scenario = validate_document(Scenario, data, marks, file, ScenarioError, "a scenario")
    refuse(scenario.problems(), marks, file, ScenarioError)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file, or a built-in one by name (``default``)."""
    p = Path(path)
    if not p.exists() and str(path) in builtin_names():
        return parse_scenario(_builtin_text(str(path)), f"<builtin {path}>")
    data, marks = load_yaml(p, ScenarioError)
    return _validate(data, marks, str(path))


def parse_scenario(text: str, file: str = "<string>") -> Scenario:
    data, marks = parse_yaml(text, file, ScenarioError)
    return _validate(data, marks, file)


def builtin_names() -> list[str]:
    folder = resources.files("device_sim") / "scenarios"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def _builtin_text(name: str) -> str:
    return (resources.files("device_sim") / "scenarios" / f"{name}.yaml").read_text("utf-8")


def start_time(scenario: Scenario, start: datetime | None = None) -> datetime:
    """The simulated start: ``start`` if given, else the scenario's, else now (whole s)."""
    if start is not None:
        return start
    if scenario.start is not None:
        return scenario.start
    return datetime.now(UTC).replace(microsecond=0)
