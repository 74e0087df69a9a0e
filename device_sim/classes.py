"""Physics of each asset class, vectorised over all assets of the class.

Each class maps (load, running, ambient, fault severities, noise) to its metrics with
simple but plausible relations: affinity laws for pumps (flow ~ speed, head ~ speed^2,
power ~ speed^3), motor current from shaft load plus magnetising current, first-order
thermal lags, ISO 10816-like vibration levels. Fault signatures are listed in
``SIGNATURES``; tests hold the physics to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]

COMMON = (
    "running",
    "speed_rpm",
    "current_l1_a",
    "current_l2_a",
    "current_l3_a",
    "voltage_v",
    "power_kw",
    "vib_x_mm_s",
    "vib_y_mm_s",
    "bearing_temp_c",
    "winding_temp_c",
    "ambient_temp_c",
)


@dataclass
class Ctx:
    """Inputs of one step for the n assets of a class."""

    n: int
    dt: float
    load: F  # demand 0..1
    run: F  # 1.0 running, 0.0 stopped
    ambient: F
    sev: dict[str, F]  # mode -> severity 0..1
    rated: F  # per-asset size factor around 1
    imbalance: F  # (n, 3) natural phase imbalance
    vib_k: F  # (n, 2) per-asset vibration signature
    z: Callable[[int], F]  # standard normal noise, n values per call
    u: Callable[[int], F]  # uniform 0..1
    noise: float
    thermal: dict[str, F] = field(default_factory=dict)  # lag states, kept across steps

    def s(self, mode: str) -> F:
        return self.sev.get(mode, np.zeros(self.n))

    def lag(self, name: str, target: F, tau_s: float) -> F:
        """First-order thermal lag: temperatures approach their target, never jump."""
        state = self.thermal.get(name)
        if state is None:
            state = target.copy()
        else:
            state = state + (target - state) * (1.0 - np.exp(-self.dt / tau_s))
        self.thermal[name] = state
        return state

    def jitter(self, std: float) -> F:
        return self.z(self.n) * std * self.noise


def _motor(
    c: Ctx, shaft: F, rated_a: float, rpm: float, out: dict[str, F], ratio: F | float = 1.0
) -> None:
    """Induction motor (on a VFD at speed ``ratio``) driving ``shaft`` load (0..~1.2)."""
    run = c.run
    s_w, s_b = c.s("winding_insulation"), c.s("bearing_wear")
    volts = 400.0 + c.jitter(1.5)
    amps = run * rated_a * c.rated * (0.32 + 0.68 * shaft) * (1 + 0.03 * s_b + 0.04 * s_w)
    phase = np.stack([1 + 0.20 * s_w, 1 - 0.09 * s_w, 1 - 0.03 * s_w], axis=1) + c.imbalance
    for i in range(3):
        out[f"current_l{i + 1}_a"] = np.maximum(
            amps * phase[:, i] + run * c.jitter(0.004 * rated_a), 0.0
        )
    out["voltage_v"] = volts
    out["power_kw"] = np.maximum(1.732 * volts * amps * 0.86 / 1000 + run * c.jitter(0.05), 0.0)
    out["speed_rpm"] = run * rpm * ratio * (1 - 0.02 * shaft) + run * c.jitter(0.5)
    wind = c.ambient + run * (22 + 48 * shaft**2) + run * 38 * s_w + 6 * s_w
    out["winding_temp_c"] = c.lag("winding", wind, 2400.0) + c.jitter(0.3)
    brg = c.ambient + run * (10 + 14 * shaft) + run * 32 * s_b
    out["bearing_temp_c"] = c.lag("bearing", brg, 1500.0) + c.jitter(0.25)
    base = 0.9 + 0.7 * shaft
    wear = 6.5 * s_b
    for j, (axis, share) in enumerate((("x", 1.0), ("y", 0.75))):
        level = run * (base * c.vib_k[:, j] + share * wear) + 0.04
        out[f"vib_{axis}_mm_s"] = np.maximum(
            level * (1 + c.jitter(0.04) + share * 0.25 * s_b * c.z(c.n)), 0.01
        )
    out["ambient_temp_c"] = c.ambient + c.jitter(0.15)
    out["running"] = run


def pump(c: Ctx) -> dict[str, F]:
    s_seal, s_cf, s_cav = c.s("seal_leak"), c.s("clogged_filter"), c.s("cavitation")
    run = c.run
    r = 0.72 + 0.28 * c.load  # VFD speed ratio
    flow = run * 120.0 * c.rated * r * (1 - 0.32 * s_seal - 0.25 * s_cf - 0.10 * s_cav)
    flow_frac = flow / (120.0 * c.rated)
    out: dict[str, F] = {}
    strainer = 0.06 + 0.10 * flow_frac**2 + run * 0.85 * s_cf
    dips = run * s_cav * (c.u(c.n) < 0.35 * s_cav) * (0.25 + 0.35 * c.u(c.n))
    suction = 1.35 - 0.25 * flow_frac**2 - run * (0.75 * s_cf + 0.35 * s_cav) - dips
    suction = suction + c.jitter(0.02)
    suction = suction + run * s_cav * c.z(c.n) * 0.06
    head = run * 5.0 * r**2 * (1 - 0.28 * s_seal - 0.06 * s_cav)
    discharge = suction + head + c.jitter(0.03) + run * s_cav * c.z(c.n) * 0.22
    shaft = run * r**3 * (1 - 0.12 * s_cf - 0.06 * s_seal)
    _motor(c, shaft, 40.0, 2950.0, out, r)
    cav = run * s_cav * (2.2 + 1.8 * np.abs(c.z(c.n)))
    out["vib_x_mm_s"] = out["vib_x_mm_s"] + cav
    out["vib_y_mm_s"] = out["vib_y_mm_s"] + 0.8 * cav
    out["suction_pressure_bar"] = suction
    out["discharge_pressure_bar"] = discharge
    out["flow_m3h"] = np.maximum(flow * (1 + c.jitter(0.01) + s_cav * 0.05 * c.z(c.n)), 0.0)
    out["strainer_dp_bar"] = np.maximum(strainer + c.jitter(0.005), 0.0)
    return out


def motor(c: Ctx) -> dict[str, F]:
    shaft = c.run * (0.30 + 0.70 * c.load)
    out: dict[str, F] = {}
    _motor(c, shaft, 90.0, 1485.0, out)
    out["load_pct"] = 100 * shaft + c.run * c.jitter(0.5)
    return out


def compressor(c: Ctx) -> dict[str, F]:
    s_seal, s_cf = c.s("seal_leak"), c.s("clogged_filter")
    run = c.run
    demand = np.minimum(c.load * (1 + 0.25 * s_seal), 1.1)
    r = 0.40 + 0.60 * demand  # VSD
    out: dict[str, F] = {}
    shaft = run * r * (1 + 0.22 * s_cf)  # higher pressure ratio behind a clogged intake
    _motor(c, shaft, 70.0, 2980.0, out, r)
    dp = 12.0 + 14.0 * (run * r) ** 2 + run * 75.0 * s_cf
    out["filter_dp_mbar"] = np.maximum(dp + c.jitter(0.6), 0.0)
    out["inlet_pressure_bar"] = 1.0 - dp / 1000.0 + c.jitter(0.002)
    out["discharge_pressure_bar"] = np.where(
        run > 0, 7.5 - 1.3 * s_seal + c.jitter(0.04), 1.0 + 0.2 * c.u(c.n)
    )
    out["flow_m3min"] = np.maximum(
        run * 6.0 * c.rated * r * (1 - 0.10 * s_cf) * (1 - 0.15 * s_seal) + run * c.jitter(0.04),
        0.0,
    )
    dis = c.ambient + run * (58 + 16 * r) + run * 14 * s_cf + run * 6 * s_seal
    out["discharge_temp_c"] = c.lag("discharge", dis, 600.0) + c.jitter(0.3)
    oil = c.ambient + run * (38 + 12 * r) + run * 9 * s_cf
    out["oil_temp_c"] = c.lag("oil", oil, 1800.0) + c.jitter(0.2)
    return out


def chiller(c: Ctx) -> dict[str, F]:
    s_seal, s_cf = c.s("seal_leak"), c.s("clogged_filter")
    run = c.run
    r = 0.30 + 0.70 * c.load
    out: dict[str, F] = {}
    shaft = run * r * (1 - 0.10 * s_seal + 0.08 * s_cf)
    _motor(c, shaft, 120.0, 2960.0, out, r)
    flow_ratio = 1 - 0.30 * s_cf
    supply = 7.0 + run * 4.5 * s_seal + (1 - run) * 3.0
    out["chw_supply_temp_c"] = c.lag("supply", supply, 900.0) + c.jitter(0.05)
    delta = run * 5.5 * c.load / flow_ratio * (1 - 0.3 * s_seal)
    out["chw_return_temp_c"] = (
        out["chw_supply_temp_c"] + c.lag("delta", delta, 900.0) + c.jitter(0.05)
    )
    out["chw_flow_m3h"] = 60.0 * c.rated * flow_ratio * (1 + c.jitter(0.008))
    out["strainer_dp_bar"] = np.maximum(
        0.05 + 0.03 * flow_ratio**2 + 0.65 * s_cf + c.jitter(0.003), 0
    )
    out["suction_pressure_bar"] = np.where(
        run > 0, 3.6 - 0.3 * c.load - 1.4 * s_seal - 0.3 * s_cf, 5.5 - 1.5 * s_seal
    ) + c.jitter(0.03)
    out["discharge_pressure_bar"] = np.where(
        run > 0, 11.0 + 2.0 * c.load - 2.6 * s_seal, 5.5 - 1.5 * s_seal
    ) + c.jitter(0.06)
    return out


@dataclass(frozen=True)
class ClassSpec:
    name: str
    metrics: tuple[str, ...]
    compute: Callable[[Ctx], dict[str, F]]
    #: healthy bands while running (stopped assets read near zero / ambient)
    bands: dict[str, tuple[float, float]]


_COMMON_BANDS = {
    "voltage_v": (385.0, 415.0),
    "vib_x_mm_s": (0.3, 4.5),
    "vib_y_mm_s": (0.2, 4.5),
    "bearing_temp_c": (-5.0, 75.0),
    "winding_temp_c": (-5.0, 110.0),
    "ambient_temp_c": (-10.0, 45.0),
}

CLASSES: dict[str, ClassSpec] = {
    "centrifugal_pump": ClassSpec(
        "centrifugal_pump",
        (*COMMON, "suction_pressure_bar", "discharge_pressure_bar", "flow_m3h", "strainer_dp_bar"),
        pump,
        {
            **_COMMON_BANDS,
            "current_l1_a": (15, 50),
            "speed_rpm": (2050, 2950),
            "suction_pressure_bar": (0.8, 1.5),
            "discharge_pressure_bar": (3.0, 7.0),
            "flow_m3h": (70, 140),
            "strainer_dp_bar": (0.0, 0.25),
            "power_kw": (8, 30),
        },
    ),
    "electric_motor": ClassSpec(
        "electric_motor",
        (*COMMON, "load_pct"),
        motor,
        {
            **_COMMON_BANDS,
            "current_l1_a": (30, 105),
            "speed_rpm": (1440, 1490),
            "load_pct": (25, 105),
            "power_kw": (15, 65),
        },
    ),
    "air_compressor": ClassSpec(
        "air_compressor",
        (
            *COMMON,
            "inlet_pressure_bar",
            "discharge_pressure_bar",
            "flow_m3min",
            "filter_dp_mbar",
            "discharge_temp_c",
            "oil_temp_c",
        ),
        compressor,
        {
            **_COMMON_BANDS,
            "current_l1_a": (20, 80),
            "discharge_pressure_bar": (7.2, 7.8),
            "flow_m3min": (2.0, 7.0),
            "filter_dp_mbar": (10, 35),
            "discharge_temp_c": (5, 110),
            "oil_temp_c": (5, 90),
            "speed_rpm": (1150, 2950),
            "power_kw": (10, 50),
            "inlet_pressure_bar": (0.96, 1.0),
        },
    ),
    "chiller": ClassSpec(
        "chiller",
        (
            *COMMON,
            "suction_pressure_bar",
            "discharge_pressure_bar",
            "chw_supply_temp_c",
            "chw_return_temp_c",
            "chw_flow_m3h",
            "strainer_dp_bar",
        ),
        chiller,
        {
            **_COMMON_BANDS,
            "current_l1_a": (30, 140),
            "chw_supply_temp_c": (6.0, 10.0),
            "speed_rpm": (850, 2950),
            "power_kw": (15, 80),
            "chw_return_temp_c": (6.5, 14.5),
            "chw_flow_m3h": (50, 70),
            "strainer_dp_bar": (0.04, 0.12),
            "suction_pressure_bar": (3.0, 3.8),
            "discharge_pressure_bar": (10.5, 13.5),
        },
    ),
}

#: Fault signatures: metric -> direction (+1 rises, -1 falls) over the fault's course,
#: judged on trend values while running. Tests enforce every entry.
_BEARING = {"vib_x_mm_s": 1, "vib_y_mm_s": 1, "bearing_temp_c": 1}
_WINDING = {"current_l1_a": 1, "current_l2_a": -1, "winding_temp_c": 1}
SIGNATURES: dict[str, dict[str, dict[str, int]]] = {
    "centrifugal_pump": {
        "bearing_wear": _BEARING,
        "winding_insulation": _WINDING,
        "seal_leak": {"flow_m3h": -1, "discharge_pressure_bar": -1},
        "clogged_filter": {"strainer_dp_bar": 1, "suction_pressure_bar": -1, "flow_m3h": -1},
        "cavitation": {"vib_x_mm_s": 1, "suction_pressure_bar": -1, "flow_m3h": -1},
    },
    "electric_motor": {"bearing_wear": _BEARING, "winding_insulation": _WINDING},
    "air_compressor": {
        "bearing_wear": _BEARING,
        "winding_insulation": _WINDING,
        "seal_leak": {"discharge_pressure_bar": -1, "current_l3_a": 1},
        "clogged_filter": {"filter_dp_mbar": 1, "current_l3_a": 1, "discharge_temp_c": 1},
    },
    "chiller": {
        "bearing_wear": _BEARING,
        "winding_insulation": _WINDING,
        "seal_leak": {"suction_pressure_bar": -1, "chw_supply_temp_c": 1},
        "clogged_filter": {"strainer_dp_bar": 1, "chw_flow_m3h": -1},
    },
}
