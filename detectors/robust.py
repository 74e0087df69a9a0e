"""Per-metric robust baseline: an EWMA control chart whose baseline learns slowly and warily.

Each metric keeps a fast EWMA of its value (smoothing sensor noise so a sustained shift of
a fraction of a sigma stands out) and a slow baseline of where that fast mean normally sits
and how far it normally wanders. The z of the fast mean against that baseline scores level
shifts and slow drifts; the ratio of short-term to long-term residual variance scores a
signal turning noisy (cavitation, loose parts, spikes).

The guards against learning a fault as normal: learning input is winsorised, and while a
metric (or the whole asset) scores high, learning slows to ``guard_rate``, so a developing
fault is not absorbed within the hour, yet a genuine new operating point is, eventually.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from detectors.base import Scorer, squash
from detectors.configuration import RobustConfig


class _Stat:
    __slots__ = ("fast", "level", "n", "noise", "nvar_fast", "nvar_slow", "var", "z")

    def __init__(self, x: float) -> None:
        self.n = 1
        self.fast = x
        self.level = x
        self.var = 0.0
        self.nvar_fast = 0.0
        self.nvar_slow = 0.0
        self.z = 0.0
        self.noise = 1.0


class RobustBaseline(Scorer):
    """EWMA chart per metric with guarded learning; score = max over metrics.

    >>> rb = RobustBaseline(RobustConfig(metric_warmup=20))
    >>> for i in range(200):
    ...     _ = rb.update_one({"flow": 32.0 + (i % 3 - 1) * 0.5})
    >>> round(rb.update_one({"flow": 32.0}), 2)
    0.0
    >>> scores = [rb.update_one({"flow": 29.0}) for _ in range(20)]
    >>> scores[-1] > 0.9, rb.evidence()["flow"] < 0
    (True, True)
    """

    name = "robust_ewma"

    def __init__(self, config: RobustConfig | None = None) -> None:
        self.cfg = config or RobustConfig()
        self.stats: dict[str, _Stat] = {}
        self.scores: dict[str, float] = {}

    def update_one(self, x: Mapping[str, float], learn: float = 1.0, warm: bool = False) -> float:
        """Score, then learn; ``warm`` (asset warm-up) learns like a running mean, unguarded."""
        c = self.cfg
        af, slow, mwarm = c.fast_alpha, c.slow_alpha, c.metric_warmup
        best = 0.0
        scores = self.scores
        stats = self.stats
        for name, v in x.items():
            st = stats.get(name)
            if st is None:
                stats[name] = _Stat(v)
                scores[name] = 0.0
                continue
            n = st.n
            floor = c.min_std_rel * abs(st.level) + c.min_std_abs
            resid = v - st.fast
            r2 = resid * resid
            if n >= mwarm:
                # one wild reading is one reading: clip what it does to the short-term stats
                lim2 = c.winsor * c.winsor * (st.nvar_slow + floor * floor)
                if r2 > 4.0 * lim2:
                    resid = math.copysign(2.0 * math.sqrt(lim2), resid)
                if r2 > lim2:
                    r2 = lim2
            st.fast += af * resid
            st.nvar_fast += af * (r2 - st.nvar_fast)
            dev = st.fast - st.level
            if n >= mwarm:
                std = math.sqrt(st.var)
                z = dev / (std if std > floor else floor)
                nfloor = floor * floor
                ratio = (st.nvar_fast + nfloor) / (st.nvar_slow + nfloor)
                s = squash(z, c.z_half)
                if ratio > 1.0:
                    sn = squash(ratio - 1.0, c.noise_half - 1.0)
                    if sn > s:
                        s = sn
                if warm:
                    a = max(slow, 1.0 / n)
                else:
                    a = slow * (learn if s <= c.guard_score else min(learn, c.guard_rate))
            else:
                z, ratio, s = 0.0, 1.0, 0.0
                a = max(slow, 1.0 / n)
            st.z = z
            st.noise = ratio
            scores[name] = s
            if s > best:
                best = s
            if a > 0.0:
                # winsorise what the baseline learns from: one spike must not move it far
                lim = c.winsor * math.sqrt(st.nvar_slow) + floor
                d = v - st.level
                if d > lim:
                    d = lim
                elif d < -lim:
                    d = -lim
                st.level += a * d
                dev = st.fast - st.level
                st.var += a * (dev * dev - st.var)
                st.nvar_slow += a * (r2 - st.nvar_slow)
            st.n = n + 1
        return best

    def evidence(self) -> dict[str, float]:
        return {k: st.z for k, st in self.stats.items()}

    def baseline(self, metric: str) -> float | None:
        st = self.stats.get(metric)
        return st.level if st is not None else None

    def squashed(self, metric: str, scale: float) -> float:
        """The metric's deviation squashed into [0, 1] (0.5 = baseline), for tree models."""
        st = self.stats.get(metric)
        if st is None:
            return 0.5
        return 0.5 + 0.5 * math.tanh(st.z / scale)
