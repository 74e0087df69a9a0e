"""The fleet engine: one numpy step advances every asset of a class at once.

Determinism: per-asset traits come from a generator seeded by (seed, asset id), so adding
an asset never changes another's traits; step noise comes from one generator per class
seeded by (seed, class), drawn in a fixed order, so the same scenario gives the same
data whatever the wall-clock speed or the output. Injected faults and sensor-fault
episodes are drawn up front, which is what makes the ground truth exact.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from device_sim.classes import CLASSES, ClassSpec, Ctx
from device_sim.scenario import MODES, AssetSpec, Scenario, start_time
from device_sim.truth import TruthEvent

F = npt.NDArray[np.float64]
CLASS_ORDER = ("centrifugal_pump", "electric_motor", "air_compressor", "chiller")
_DAY = 86400.0


def _episodes(
    rng: np.random.Generator, rate_per_day: float, duration: float, mean: float, n_metrics: int
) -> tuple[F, F, npt.NDArray[np.int64]]:
    count = int(rng.poisson(rate_per_day * duration / _DAY)) if rate_per_day > 0 else 0
    starts = np.sort(rng.uniform(0.0, duration, count))
    lengths = np.maximum(rng.exponential(mean, count), 1.0)
    metrics = rng.integers(1, n_metrics, count)  # never 0 ("running" is a status, not a sensor)
    return starts, starts + lengths, metrics


class Group:
    """All assets of one class, as arrays."""

    def __init__(
        self,
        spec: ClassSpec,
        assets: list[AssetSpec],
        scenario: Scenario,
        class_index: int,
        start: datetime,
    ) -> None:
        self.spec = spec
        self.assets = assets
        self.metrics = spec.metrics
        self.n = n = len(assets)
        self.dt = scenario.sample_period_s
        self.noise = scenario.noise
        self.stop_rate = scenario.stops_per_asset_day
        self.rng = np.random.default_rng(np.random.SeedSequence([scenario.seed, class_index]))
        self.start_epoch = start.timestamp()
        m = len(spec.metrics)
        load, shift, phase, tz, amb_mean, amb_swing = (np.zeros(n) for _ in range(6))
        self.rated = np.ones(n)
        self.imbalance = np.zeros((n, 3))
        self.vib_k = np.ones((n, 2))
        ep: list[tuple[float, float, int, int, int]] = []  # start, end, asset, metric, kind
        sf = scenario.sensor_faults
        for i, a in enumerate(assets):
            r = np.random.default_rng([scenario.seed, zlib.crc32(a.id.encode())])
            site = scenario.site(a.site)
            load[i] = a.entry.load * r.uniform(0.9, 1.05)
            shift[i] = a.entry.duty == "shift"
            phase[i] = r.normal(0, 1800)
            tz[i] = site.utc_offset_h * 3600
            amb_mean[i], amb_swing[i] = site.ambient_mean_c + r.normal(0, 1), site.ambient_swing_c
            self.rated[i] = r.normal(1.0, 0.03)
            self.imbalance[i] = r.normal(0, 0.008, 3)
            self.vib_k[i] = r.uniform(0.8, 1.2, 2)
            for kind, rate in ((0, sf.dropouts_per_asset_day), (1, sf.stuck_per_asset_day)):
                s, e, mm = _episodes(r, rate, scenario.duration, sf.mean_duration, m)
                ep.extend((float(s[j]), float(e[j]), i, int(mm[j]), kind) for j in range(len(s)))
        self.base_load, self.shift, self.phase, self.tz = load, shift.astype(bool), phase, tz
        self.amb_mean, self.amb_swing = amb_mean, amb_swing
        ep.sort()
        self.episodes = ep
        self._ep_next = 0
        self._ep_active: list[int] = []
        self._stuck: dict[int, float] = {}
        # Injected degradations and sudden faults.
        local = {a.id: i for i, a in enumerate(assets)}
        self.onset = {mode: np.full(n, np.inf) for mode in MODES}
        self.span = {mode: np.ones(n) for mode in MODES}
        self.repair = {mode: np.full(n, np.inf) for mode in MODES}
        self.shape = {mode: np.ones(n) for mode in MODES}
        for d in scenario.degradations:
            if d.asset in local:
                i = local[d.asset]
                self.onset[d.mode][i] = d.onset
                self.span[d.mode][i] = d.failure_after
                self.shape[d.mode][i] = d.shape
                if d.repair_after is not None:
                    self.repair[d.mode][i] = d.onset + d.failure_after + d.repair_after
        self.active_modes = [mode for mode in MODES if np.isfinite(self.onset[mode]).any()]
        trips: list[tuple[int, float, float]] = []
        power: list[tuple[int, float, float]] = []
        for f in scenario.faults:
            if f.asset is not None and f.asset in local:
                (trips if f.fault == "trip" else power).append(
                    (local[f.asset], f.at, f.at + f.duration)
                )
            elif f.site is not None:
                power.extend(
                    (i, f.at, f.at + f.duration) for i, a in enumerate(assets) if a.site == f.site
                )
        self.trips = np.array(trips, dtype=np.float64).reshape(-1, 3)
        self.power = np.array(power, dtype=np.float64).reshape(-1, 3)
        self.stop_left = np.zeros(n)
        self.ar = np.zeros(n)
        self.amb_ar = np.zeros(n)
        self.thermal: dict[str, F] = {}
        self.last: F = np.full((n, m), np.nan)
        self.last_online: npt.NDArray[np.bool_] = np.ones(n, dtype=bool)

    def _z(self, k: int) -> F:
        return self.rng.standard_normal(k)

    def _u(self, k: int) -> F:
        return self.rng.random(k)

    def severity(self, t: float) -> tuple[dict[str, F], npt.NDArray[np.bool_]]:
        """Per mode severity in 0..1 and whether the asset has functionally failed."""
        sev: dict[str, F] = {}
        failed = np.zeros(self.n, dtype=bool)
        for mode in self.active_modes:
            prog = np.clip((t - self.onset[mode]) / self.span[mode], 0.0, 1.0)
            repaired = t >= self.repair[mode]
            sev[mode] = np.where(repaired, 0.0, prog ** self.shape[mode])
            failed |= (prog >= 1.0) & ~repaired
        return sev, failed

    def _down(self, table: F, t: float) -> npt.NDArray[np.bool_]:
        out = np.zeros(self.n, dtype=bool)
        if len(table):
            hit = (table[:, 1] <= t) & (t < table[:, 2])
            out[table[hit, 0].astype(np.int64)] = True
        return out

    def step(self, t: float) -> tuple[F, npt.NDArray[np.bool_]]:
        """Values (n, metrics; NaN = sensor dropout) and ``online`` (False: no power)."""
        n, dt = self.n, self.dt
        local = self.start_epoch + t + self.tz + self.phase
        hour = (local % _DAY) / 3600.0
        dow = (np.floor(local / _DAY).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        day = np.where(
            (hour >= 5) & (hour < 23), 0.5 - 0.5 * np.cos(2 * math.pi * (hour - 5) / 18), 0.0
        )
        week = np.where(dow >= 5, 0.8, 1.0)
        decay = math.exp(-dt / 3600.0)
        self.ar = self.ar * decay + math.sqrt(1 - decay**2) * 0.04 * self._z(n)
        load = np.clip(self.base_load * (0.6 + 0.4 * day) * week + self.ar, 0.05, 1.0)
        in_shift = np.where(
            dow < 5, (hour >= 6) & (hour < 22), (dow == 5) & (hour >= 6) & (hour < 14)
        )
        scheduled = np.where(self.shift, in_shift, True)
        # Random operator stops: a hazard per step and a 10-60 min pause.
        p_stop = self.stop_rate * dt / _DAY
        new_stop = (self.stop_left <= 0) & (self._u(n) < p_stop)
        self.stop_left = np.where(new_stop, self._u(n) * 3000 + 600, self.stop_left - dt)
        sev, failed = self.severity(t)
        tripped = self._down(self.trips, t)
        dark = self._down(self.power, t)
        run = (scheduled & (self.stop_left <= 0) & ~failed & ~tripped & ~dark).astype(np.float64)
        adecay = math.exp(-dt / 7200.0)
        self.amb_ar = self.amb_ar * adecay + math.sqrt(1 - adecay**2) * 0.8 * self._z(n)
        ambient = (
            self.amb_mean - self.amb_swing * np.cos(2 * math.pi * (hour - 4) / 24) + self.amb_ar
        )
        ctx = Ctx(
            n=n,
            dt=dt,
            load=load,
            run=run,
            ambient=ambient,
            sev=sev,
            rated=self.rated,
            imbalance=self.imbalance,
            vib_k=self.vib_k,
            z=self._z,
            u=self._u,
            noise=self.noise,
            thermal=self.thermal,
        )
        out = self.spec.compute(ctx)
        values = np.empty((n, len(self.metrics)))
        for j, name in enumerate(self.metrics):
            values[:, j] = out[name]
        self._sensor_faults(t, values)
        self.last = values
        self.last_online = ~dark
        return values, self.last_online

    def _sensor_faults(self, t: float, values: F) -> None:
        ep = self.episodes
        while self._ep_next < len(ep) and ep[self._ep_next][0] <= t:
            e = self._ep_next
            self._ep_active.append(e)
            if ep[e][4] == 1:
                self._stuck[e] = float(values[ep[e][2], ep[e][3]])
            self._ep_next += 1
        still = []
        for e in self._ep_active:
            _s, end, i, j, kind = ep[e]
            if end <= t:
                self._stuck.pop(e, None)
                continue
            still.append(e)
            values[i, j] = math.nan if kind == 0 else self._stuck[e]
        self._ep_active = still


@dataclass(frozen=True, slots=True)
class Frame:
    """One simulated instant for the whole fleet."""

    k: int
    t: float
    ts: datetime
    values: dict[str, F]  # class -> (n, metrics)
    online: dict[str, npt.NDArray[np.bool_]]


class Fleet:
    """The simulated fleet; call ``step()`` once per sample period."""

    def __init__(self, scenario: Scenario, start: datetime | None = None) -> None:
        """``start`` overrides the scenario's start; with neither, the run starts now."""
        self.scenario = scenario
        self.start = start_time(scenario, start)
        self.assets = scenario.assets()
        self.groups: dict[str, Group] = {}
        for ci, cls in enumerate(CLASS_ORDER):
            members = [a for a in self.assets if a.asset_class == cls]
            if members:
                self.groups[cls] = Group(CLASSES[cls], members, scenario, ci, self.start)
        self.where = {
            a.id: (a.asset_class, i) for g in self.groups.values() for i, a in enumerate(g.assets)
        }
        self.k = 0

    @property
    def t(self) -> float:
        return self.k * self.scenario.sample_period_s

    def step(self) -> Frame:
        t = self.t
        values, online = {}, {}
        for cls, g in self.groups.items():
            values[cls], online[cls] = g.step(t)
        frame = Frame(self.k, t, self.start + timedelta(seconds=t), values, online)
        self.k += 1
        return frame

    def series(self, asset: str, steps: int) -> tuple[tuple[str, ...], F]:
        """Advance ``steps`` and return one asset's (metrics, (steps, metrics)) history."""
        cls, i = self.where[asset]
        out = np.empty((steps, len(self.groups[cls].metrics)))
        for s in range(steps):
            out[s] = self.step().values[cls][i]
        return self.groups[cls].metrics, out

    def truth(self) -> list[TruthEvent]:
        """Everything injected: degradations, sudden faults, sensor-fault episodes."""
        events: list[TruthEvent] = []
        assets = {a.id: a for a in self.assets}
        sc = self.scenario
        for d in sc.degradations:
            a = assets[d.asset]
            failure = d.onset + d.failure_after
            end = failure + d.repair_after if d.repair_after is not None else None
            events.append(
                TruthEvent(
                    a.id, a.asset_class, a.site, "degradation", d.mode, d.onset, failure, end
                )
            )
        for f in sc.faults:
            targets = [assets[f.asset]] if f.asset else [a for a in self.assets if a.site == f.site]
            for a in targets:
                events.append(
                    TruthEvent(
                        a.id,
                        a.asset_class,
                        a.site,
                        "sudden",
                        f.fault,
                        f.at,
                        None,
                        f.at + f.duration,
                    )
                )
        for g in self.groups.values():
            for s, e, i, j, kind in g.episodes:
                a = g.assets[i]
                events.append(
                    TruthEvent(
                        a.id,
                        a.asset_class,
                        a.site,
                        "sensor",
                        "dropout" if kind == 0 else "stuck",
                        s,
                        None,
                        e,
                        metric=g.metrics[j],
                    )
                )
        events.sort(key=lambda ev: (ev.onset, ev.asset))
        return events
