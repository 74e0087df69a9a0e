"""Exponentially weighted linear trend per metric, and the time until a limit is crossed.

O(1) per sample (five running sums), so it runs on every sample; the slope is only solved
when an event needs a time-to-limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from detectors.configuration import MetricConfig, TrendConfig


class TrendFit:
    """EW least-squares line of value against time (hours); ``time_to_limit`` in hours.

    >>> tf = TrendFit(TrendConfig(alpha=0.05), {"vib": MetricConfig(upper_limit=10.0)})
    >>> for h in range(100):
    ...     tf.update(h * 3600.0, {"vib": 2.0 + 0.05 * h})
    >>> round(tf.slope("vib"), 3), round(tf.time_to_limit("vib"), 1)
    (0.05, 61.0)
    """

    def __init__(self, config: TrendConfig, metrics: Mapping[str, MetricConfig]) -> None:
        self.cfg = config
        self.limits = {
            k: (m.lower_limit, m.upper_limit)
            for k, m in metrics.items()
            if m.lower_limit is not None or m.upper_limit is not None
        }
        self.t0: float | None = None
        self.sums: dict[str, list[float]] = {}  # n, t, x, tt, tx (EW means)
        self.last: dict[str, tuple[float, float]] = {}

    def update(self, ts: float, x: Mapping[str, float]) -> None:
        if not self.limits:
            return
        if self.t0 is None:
            self.t0 = ts
        t = (ts - self.t0) / 3600.0
        a0 = self.cfg.alpha
        for name in self.limits:
            v = x.get(name)
            if v is None:
                continue
            s = self.sums.get(name)
            if s is None:
                s = self.sums[name] = [0.0, t, v, t * t, t * v]
            s[0] += 1
            a = max(a0, 1.0 / s[0])
            s[1] += a * (t - s[1])
            s[2] += a * (v - s[2])
            s[3] += a * (t * t - s[3])
            s[4] += a * (t * v - s[4])
            self.last[name] = (t, v)

    def slope(self, name: str) -> float | None:
        s = self.sums.get(name)
        if s is None or s[0] < self.cfg.min_points:
            return None
        var_t = s[3] - s[1] * s[1]
        if var_t <= 1e-12:
            return None
        return (s[4] - s[1] * s[2]) / var_t

    def time_to_limit(self, name: str) -> float | None:
        """Hours until the fitted line reaches the limit; None when not heading there."""
        slope = self.slope(name)
        if slope is None or name not in self.limits:
            return None
        s = self.sums[name]
        t_now = self.last[name][0]
        level = s[2] + slope * (t_now - s[1])  # the fitted value now, not one noisy reading
        lower, upper = self.limits[name]
        if upper is not None and slope > 0:
            return max(0.0, (upper - level) / slope)
        if lower is not None and slope < 0:
            return max(0.0, (lower - level) / slope)
        return None

    def min_time_to_limit(self) -> tuple[str, float] | None:
        best: tuple[str, float] | None = None
        for name in self.limits:
            ttl = self.time_to_limit(name)
            if ttl is not None and (best is None or ttl < best[1]):
                best = (name, ttl)
        return best
