"""Input hygiene before any model sees a sample.

Drops out-of-order and duplicate timestamps (a replayed buffer must not score twice),
NaN/inf/missing values (the metric just sits this sample out), and a metric whose sensor
repeats the same reading ``stuck_after`` times (a dead sensor must neither alarm nor teach
the baseline that the world stopped). Also decides whether the asset is running: a stopped
pump is not an anomalous pump, so scoring and learning pause.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from detectors.base import finite
from detectors.configuration import ClassConfig


def derive(fn: str, xs: list[float | None]) -> float | None:
    """A derived metric, or None when an input is missing or the result is undefined.

    >>> derive("imbalance", [10.0, 9.0, 11.0]), derive("ratio", [3.0, 0.0]), derive("diff", [5.0, 2.0])
    (0.1, None, 3.0)
    """
    vals = [x for x in xs if x is not None]
    if len(vals) != len(xs):
        return None
    if fn == "imbalance":
        mean = sum(vals) / len(vals)
        return max(abs(v - mean) for v in vals) / mean if mean > 1e-9 else None
    if fn == "ratio":
        return vals[0] / vals[1] if abs(vals[1]) > 1e-12 else None
    return vals[0] - vals[1]


class Preprocessor:
    """Cleans one sample; ``None`` means "skip it entirely".

    >>> from detectors.configuration import ClassConfig, PreprocessConfig
    >>> pp = Preprocessor(ClassConfig(preprocess=PreprocessConfig(stuck_after=3)))
    >>> pp.clean(1.0, {"a": 1.0, "b": float("nan")})
    {'a': 1.0}
    >>> pp.clean(1.0, {"a": 2.0}) is None  # duplicate timestamp
    True
    >>> [pp.clean(t, {"a": 5.0}) for t in (2.0, 3.0, 4.0)]
    [{'a': 5.0}, {'a': 5.0}, {}]
    >>> sorted(pp.stuck)
    ['a']
    """

    def __init__(self, config: ClassConfig) -> None:
        self.cfg = config
        self.ignored = {k for k, m in config.metrics.items() if m.weight == 0}
        self.last_ts: float | None = None
        self.prev: dict[str, float] = {}
        self.repeats: dict[str, int] = {}
        self.stuck: set[str] = set()
        self.dropped = 0
        self.running = True
        self.was_running = True
        self.settling = 0
        self.interval: float | None = None  # usual time between samples (a high quantile)
        self.gap = False  # the last sample came after a silence (a stop nobody reported)

    def clean(self, ts: float, values: Mapping[str, object]) -> dict[str, float] | None:
        if self.last_ts is not None and ts <= self.last_ts:
            self.dropped += 1
            return None
        gap = self.gap = self._restarted(ts)
        self.last_ts = ts
        out: dict[str, float] = {}
        limit = self.cfg.preprocess.stuck_after
        prev, repeats = self.prev, self.repeats
        for name, raw in values.items():
            # a float (all the contract delivers) is finite iff v - v == 0: no call per value
            v = (raw if raw - raw == 0.0 else None) if type(raw) is float else finite(raw)
            if v is None or name in self.ignored:
                continue
            if prev.get(name) == v:
                cnt = repeats[name] = repeats.get(name, 0) + 1
                if cnt + 1 >= limit:
                    self.stuck.add(name)
                    continue
            else:
                prev[name] = v
                repeats[name] = 0
                if name in self.stuck:
                    self.stuck.discard(name)
            out[name] = v
        for name, spec in self.cfg.preprocess.derived.items():
            v = derive(spec.fn, [out.get(i) for i in spec.inputs])
            if v is not None:
                out[name] = v
        rule = self.cfg.preprocess.running
        if rule is not None:
            v = finite(values.get(rule.metric))
            if v is not None:
                running = v > rule.above
                if running and (gap or not self.was_running):
                    self.settling = self.cfg.preprocess.settle
                self.was_running = running
            if self.settling > 0:
                self.settling -= 1
                self.running = False  # a restart's transients are not a fault
            else:
                self.running = self.was_running
        return out

    def _restarted(self, ts: float) -> bool:
        """Whether the silence before ``ts`` was long enough to have been a stop.

        Devices without power publish nothing, so the running flag never shows the stop; the
        restart's transients (a chiller pulling its warmed loop down) would look like faults.
        "Usual" is a high quantile of the asset's own intervals (``gap_quantile``, tracked in
        log time), not their mean: a device that reports by exception or jitters widely has
        long silences all the time, and each read as a restart blinded the detector. A silence
        still nudges the quantile up, so a device whose rate was lowered is learned again
        within some tens of samples instead of settling forever.
        """
        if self.last_ts is None:
            return False
        dt = ts - self.last_ts
        usual = getattr(self, "interval", None)  # checkpoints from before the gap rule lack it
        if usual is None:
            self.interval = dt
            return False
        q = self.cfg.preprocess.gap_quantile
        step = _QUANTILE_STEP * (q if dt > usual else q - 1.0)
        self.interval = usual * math.exp(step)
        return dt > self.cfg.preprocess.gap_restart * usual


# step of the interval quantile in log time: an exceedance moves it up 5 % x quantile, so
# after a rate change (x 30) silences stop reading as restarts within about 25 samples, and
# one late sample barely moves it
_QUANTILE_STEP = 0.05
