"""Slow drift against a frozen reference, confirmed by river's Page-Hinkley test.

The adaptive baseline follows a slow degradation by design; this component does not: at the
end of warm-up it freezes each metric's reference level and spread (over the whole warm-up,
so a daily load cycle is part of "normal"), and feeds the z of a slow EWMA of the metric
(``alpha``, which averages the daily cycle out) against that reference to a Page-Hinkley
detector. Once Page-Hinkley has confirmed a
sustained shift, the reference z contributes to the score (and says "drifting" in the
evidence) until the metric comes back within two sigmas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from river.drift import PageHinkley

from detectors.base import Scorer, squash
from detectors.configuration import DriftConfig


class DriftScorer(Scorer):
    """Page-Hinkley on each metric's z against a reference frozen by :meth:`freeze`.

    >>> ds = DriftScorer(DriftConfig(every=1, threshold=20, alpha=0.1))
    >>> for i in range(100):
    ...     _ = ds.update_one({"t": 60.0 + (i % 2)})
    >>> ds.freeze()
    >>> s = [ds.update_one({"t": 60.5 + 0.05 * i}) for i in range(400)]
    >>> s[10] < 0.1 < s[-1], ds.drifting
    (True, {'t': 1})
    """

    name = "page_hinkley_drift"

    def __init__(self, config: DriftConfig | None = None) -> None:
        self.cfg = config or DriftConfig()
        self.n = 0
        self.sums: dict[str, list[float]] = {}  # count, mean, M2 (Welford) before freezing
        self.ref: dict[str, tuple[float, float]] = {}
        self.ph: dict[str, PageHinkley] = {}
        self.z: dict[str, float] = {}
        self.drifting: dict[str, int] = {}
        self.slow: dict[str, float] = {}
        self.last = 0.0

    def freeze(self) -> None:
        """Fix the reference of every metric seen so far (called at the end of warm-up)."""
        for name, (cnt, mean, m2) in self.sums.items():
            if name not in self.ref and cnt >= 2:
                std = math.sqrt(m2 / (cnt - 1))
                self.ref[name] = (mean, max(std, 1e-3 * abs(mean), 1e-6))

    def update_one(self, x: Mapping[str, float], learn: float = 1.0) -> float:
        self.n += 1
        if self.n % self.cfg.every:
            return self.last
        best = 0.0
        a = min(1.0, self.cfg.alpha * self.cfg.every)  # per-sample rate, fed every n-th
        for name, v in x.items():
            m = self.slow.get(name)
            m = v if m is None else m + a * (v - m)
            self.slow[name] = m
            ref = self.ref.get(name)
            if ref is None:
                acc = self.sums.setdefault(name, [0.0, 0.0, 0.0])
                acc[0] += 1
                d = v - acc[1]
                acc[1] += d / acc[0]
                acc[2] += d * (v - acc[1])
                continue
            z = (m - ref[0]) / ref[1]
            self.z[name] = z
            ph = self.ph.get(name)
            if ph is None:
                ph = self.ph[name] = PageHinkley(
                    min_instances=30, delta=self.cfg.delta, threshold=self.cfg.threshold
                )
            ph.update(z)
            if ph.drift_detected:
                self.drifting[name] = 1 if z > 0 else -1
            elif name in self.drifting and abs(z) < 2.0:
                del self.drifting[name]
            if name in self.drifting:
                s = squash(z, self.cfg.z_half)
                if s > best:
                    best = s
        self.last = best
        return best

    def evidence(self) -> dict[str, float]:
        return {k: self.z[k] for k in self.drifting}
