"""Detector configuration: one YAML file, a ``defaults`` block and per-asset-class overrides.

Why a file per deployment and not code: reliability engineers tune here and replay history
with the same file the live service uses; the configuration hash in every anomaly event says
which tuning produced it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from detectors._frozen import Frozen as _Cfg
from detectors.health_config import HealthConfig
from forewarn import yamlsafe
from forewarn.errors import SettingsError
from forewarn.settings import deep_merge

DEFAULT_FILE = Path(__file__).parent / "config" / "default.yaml"
# sections and keys no score reads since the health model (issue 13): see _drop_retired
RETIRED = frozenset({"robust", "drift"})
RETIRED_HST = frozenset({"weight"})  # spikes annotate: nothing to weigh
_warned: set[str] = set()
log = logging.getLogger("forewarn.detectors")


def retired(key: str) -> bool:
    """Whether a dotted key (``robust.z_half``, ``hst.weight``) is one of :func:`_drop_retired`'s.

    >>> retired("drift.threshold"), retired("hst.weight"), retired("hst.every")
    (True, True, False)
    """
    section, _, rest = key.partition(".")
    return section in RETIRED or (section == "hst" and rest in RETIRED_HST)


def _drop_retired(value: Any, keys: frozenset[str], where: str) -> Any:
    """Keys of releases before 2.5 that had stopped changing any score (the adaptive
    baseline, the Page-Hinkley drift member, the spike trees' weight) are ignored with a
    warning, so a file written for an older release still loads."""
    if not isinstance(value, dict) or not keys & set(value):
        return value
    gone = ", ".join(where + k for k in sorted(keys & set(value)))
    if gone not in _warned:
        _warned.add(gone)
        log.warning("detector config: %s ignored (retired in 2.5: no score reads it)", gone)
    return {k: v for k, v in value.items() if k not in keys}


class MetricConfig(_Cfg):
    role: str | None = Field(
        default=None, description="vibration, temperature, flow, pressure, ..."
    )
    upper_limit: float | None = Field(
        default=None, description="functional limit, for time-to-limit"
    )
    lower_limit: float | None = None
    weight: float = Field(default=1.0, ge=0, le=1, description="0 ignores the metric in the score")


class HSTConfig(_Cfg):
    enabled: bool = False  # opt-in: the residual spike (health.spike_z) is the default
    n_trees: int = Field(default=10, ge=1, le=100)
    height: int = Field(default=8, ge=2, le=16)
    window_size: int = Field(default=250, ge=10)
    every: int = Field(default=4, ge=1, description="run the trees on every n-th sample (cost)")
    squash: float = Field(default=4.0, gt=0, description="z scale of the tanh squash into [0, 1]")
    z_half: float = Field(
        default=6.0, gt=0, description="z of the calibrated tree score mapping to 0.5"
    )
    seed: int = 42

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, value: Any) -> Any:
        return _drop_retired(value, RETIRED_HST, "hst.")


class TrendConfig(_Cfg):
    alpha: float = Field(default=0.01, gt=0, le=1, description="EW weight of the linear trend fit")
    min_points: int = Field(default=30, ge=3)


class OutlookConfig(_Cfg):
    """The health index's trend and its forecast (detectors/outlook.py); reporting only:
    nothing here changes a score or an alarm."""

    alpha: float = Field(
        default=0.02, gt=0, le=1, description="EW weight of the health trend, per scored sample"
    )
    min_points: int = Field(default=120, ge=3, description="scored samples before any trend")
    min_r2: float = Field(
        default=0.7, ge=0, le=1, description="share of the variation the line must explain"
    )
    horizon: float = Field(
        default=3.0, gt=0, description="forecast at most this many fitted time spans ahead"
    )


class RunningRule(_Cfg):
    metric: str
    above: float = Field(description="the asset runs when this metric is above the value")


class DerivedMetric(_Cfg):
    """A metric computed from others before scoring (a physical ratio says more than raw)."""

    fn: Literal["imbalance", "ratio", "diff"]
    inputs: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _arity(self) -> DerivedMetric:
        if self.fn in ("ratio", "diff") and len(self.inputs) != 2:
            raise ValueError(f"{self.fn} takes exactly two inputs")
        if self.fn == "imbalance" and len(self.inputs) < 2:
            raise ValueError("imbalance takes two or more inputs")
        return self


class PreprocessConfig(_Cfg):
    stuck_after: int = Field(
        default=120, ge=3, description="identical values before a sensor is stuck"
    )
    running: RunningRule | None = None
    settle: int = Field(
        default=0, ge=0, description="samples ignored after a (re)start (thermal transients)"
    )
    gap_restart: float = Field(
        default=10.0,
        ge=2.0,
        description="a silence longer than this many usual sample intervals counts as a "
        "(re)start: a site power cut sends nothing, so no stop is ever seen",
    )
    gap_quantile: float = Field(
        default=0.95,
        gt=0.5,
        lt=1,
        description="the usual interval is this quantile of the asset's own intervals (a device "
        "that reports by exception has long silences all the time)",
    )
    derived: dict[str, DerivedMetric] = Field(default_factory=dict)


class TimingConfig(_Cfg):
    """The interval the sample counts are set for (detectors/timing.py)."""

    interval_s: float = Field(
        default=60.0,
        ge=0,
        description="counts and rates are set for samples this far apart; coarser data has "
        "them shortened to the same time (0: never)",
    )
    coarser: float = Field(
        default=1.5, ge=1, description="retime only data at least this many times coarser"
    )
    max_ratio: float = Field(default=30.0, ge=1, description="shorten by at most this factor")
    rate_power: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="a smoothing rate set per sample applies ratio**rate_power times per coarser "
        "sample (1: the same time constant; a mean over a coarse sample is smoothed already)",
    )
    fixed_warmup: bool = Field(
        default=False, description="the warm-up is rows, whatever the interval (set by --warmup)"
    )


class AlarmConfig(_Cfg):
    warmup: int = Field(default=300, ge=0, description="samples before any alarm (learning only)")
    on_threshold: float = Field(default=0.5, gt=0, le=1)
    off_threshold: float = Field(default=0.3, ge=0, le=1)
    k: int = Field(default=3, ge=1, description="k of the last n scores above on_threshold opens")
    n: int = Field(default=5, ge=1)
    clear_after: int = Field(default=10, ge=1, description="consecutive scores below off to clear")
    cooldown: int = Field(default=300, ge=0, description="samples after a clear before a new open")
    critical_score: float = Field(default=0.85, ge=0, le=1)
    critical_ttl_h: float = Field(default=24.0, ge=0)
    nff_step: float = Field(
        default=0.05, ge=0, le=0.5, description="bar raise per 'no fault found'"
    )
    nff_max: float = Field(default=0.3, ge=0, le=0.9)

    @model_validator(mode="after")
    def _order(self) -> AlarmConfig:
        if self.off_threshold > self.on_threshold:
            raise ValueError("off_threshold must not exceed on_threshold (hysteresis)")
        if self.k > self.n:
            raise ValueError("k must not exceed n")
        return self


Direction = Literal["up", "down", "noisy"]


class ClassConfig(_Cfg):
    """Everything one asset class's detector needs; ``config_hash`` identifies it."""

    metrics: dict[str, MetricConfig] = Field(default_factory=dict)
    roles: dict[str, list[str]] = Field(
        default_factory=dict, description="role -> name fragments, for metrics not listed"
    )
    hst: HSTConfig = HSTConfig()
    health: HealthConfig = HealthConfig()
    trend: TrendConfig = TrendConfig()
    outlook: OutlookConfig = OutlookConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    alarm: AlarmConfig = AlarmConfig()
    timing: TimingConfig = TimingConfig()
    faults: dict[str, dict[str, Direction]] = Field(
        default_factory=dict,
        description="fault mode -> the roles it moves and which way; a class drops a mode it "
        "cannot suffer with `mode: null` (a compressor does not cavitate)",
    )
    window: int = Field(default=60, ge=1, le=10_000, description="recent samples kept as evidence")
    top_k: int = Field(default=3, ge=1, description="contributors reported")

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, value: Any) -> Any:
        return _drop_retired(value, RETIRED, "")

    @field_validator("faults", mode="before")
    @classmethod
    def _drop_impossible(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v is not None}
        return value

    def role_of(self, metric: str) -> str | None:
        cfg = self.metrics.get(metric)
        if cfg is not None and cfg.role:
            return cfg.role
        low = metric.lower()
        for role, fragments in self.roles.items():
            if any(re.search(f, low) for f in fragments):
                return role
        return None

    def config_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class DetectorConfig:
    """A loaded configuration file: ``for_class(name)`` falls back to ``defaults``."""

    def __init__(self, data: dict[str, Any], source: str = "<dict>") -> None:
        self.source = source
        if not isinstance(data, dict):
            raise SettingsError([("(root)", "must be a mapping")], source)
        unknown = set(data) - {"defaults", "classes"}
        if unknown:
            raise SettingsError([(k, "unknown key") for k in sorted(unknown)], source)
        self._defaults = data.get("defaults") or {}
        self._classes: dict[str, Any] = data.get("classes") or {}
        self._cache: dict[str, ClassConfig] = {}
        for name in ["default", *self._classes]:
            self.for_class(name)  # validate everything up front

    @property
    def classes(self) -> list[str]:
        return sorted(self._classes)

    def for_class(self, name: str | None) -> ClassConfig:
        key = name if name in self._classes else "default"
        if key not in self._cache:
            own = self._classes.get(key) or {}
            merged = deep_merge(self._defaults, own)
            if isinstance(own.get("faults"), dict):  # a class's rule replaces the default's
                merged["faults"] = {**(self._defaults.get("faults") or {}), **own["faults"]}
            try:
                self._cache[key] = ClassConfig.model_validate(merged)
            except ValidationError as exc:
                problems = [
                    (f"classes.{key}." + ".".join(str(p) for p in e["loc"]), e["msg"])
                    for e in exc.errors(include_url=False)
                ]
                raise SettingsError(problems, self.source) from None
        return self._cache[key]

    def with_values(self, values: dict[str, Any]) -> DetectorConfig:
        """A copy with dotted ``defaults`` keys replaced, e.g. ``{"health.alpha": 0.1}``."""
        patch: dict[str, Any] = {}
        for key, value in values.items():
            node = patch
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        data = {"defaults": deep_merge(self._defaults, patch), "classes": self._classes}
        return DetectorConfig(data, self.source)

    def override(self, **alarm: Any) -> DetectorConfig:
        """A copy with ``defaults.alarm`` keys replaced (e.g. a benchmark protocol's warm-up).

        A warm-up given this way is the whole commissioning: the reference is learned from
        exactly those rows and does not grow (``health.commission_rows``). It holds for every
        class: a class's own warm-up (two days for the simulator's) must not silently outrank
        the one an engineer gave for a short history."""
        patch: dict[str, Any] = {"alarm": alarm}
        if "warmup" in alarm:  # rows, whatever the interval (detectors/timing.py)
            patch["health"] = {"commission_rows": alarm["warmup"]}
            patch["timing"] = {"fixed_warmup": True}
        classes = {k: deep_merge(v or {}, patch) for k, v in self._classes.items()}
        data = {"defaults": deep_merge(self._defaults, patch), "classes": classes}
        return DetectorConfig(data, self.source)


def load_config(path: str | Path | None = None) -> DetectorConfig:
    """Load a detector configuration file (the shipped default when ``path`` is None)."""
    file = Path(path) if path else DEFAULT_FILE
    try:
        data = yamlsafe.load(file.read_text())
    except OSError as exc:
        raise SettingsError([("file", str(exc))], str(file)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "yaml"
        why = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SettingsError([(where, f"not valid YAML: {why}")], str(file)) from None
    return DetectorConfig(data or {}, str(file))
