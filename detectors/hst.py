"""river's HalfSpaceTrees on baseline-standardised features, subsampled and calibrated.

HalfSpaceTrees assumes features in [0, 1]; raw sensor values are not, and a min-max scaler
breaks on the first new extreme. We feed ``0.5 + 0.5 tanh(z / squash)`` of each metric's
robust z, which is always in (0, 1), follows slow drift with the baseline and is not moved
by outliers. The trees run on every ``every``-th sample (their cost dominates) and their raw
score is calibrated against its own running mean and spread once the trees hold a full
reference window, so 0.5 means "unusually isolated" whatever the raw scale. They only learn
while the asset is calm, so a long fault does not become the trees' new normal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from river.anomaly import HalfSpaceTrees

from detectors.base import Scorer, squash
from detectors.configuration import HSTConfig

_CALIBRATE = 50  # raw scores seen before the calibrated score is trusted


class TreeScorer(Scorer):
    """Calibrated, subsampled HalfSpaceTrees over features already in [0, 1].

    >>> ts = TreeScorer(HSTConfig(every=1, window_size=50))
    >>> for i in range(400):
    ...     _ = ts.update_one({"a": 0.5 + 0.01 * (i % 5), "b": 0.5})
    >>> ts.update_one({"a": 0.52, "b": 0.5}) < 0.5
    True
    >>> ts.update_one({"a": 0.99, "b": 0.01}) > 0.5
    True
    """

    name = "half_space_trees"

    def __init__(self, config: HSTConfig | None = None) -> None:
        self.cfg = config or HSTConfig()
        c = self.cfg
        self.model = HalfSpaceTrees(
            n_trees=c.n_trees, height=c.height, window_size=c.window_size, seed=c.seed
        )
        self.n = 0
        self.seen = 0
        self.learned = 0
        self.mean = 0.0
        self.var = 0.0
        self.last = 0.0

    def update_one(self, x: Mapping[str, float], learn: float = 1.0) -> float:
        self.n += 1
        if self.n % self.cfg.every:
            return self.last
        raw = self.model.score_one(dict(x))
        if self.learned >= self.cfg.window_size:  # reference mass exists after one window
            if self.seen >= _CALIBRATE:
                z = (raw - self.mean) / (math.sqrt(self.var) + 1e-3)
                self.last = squash(z, self.cfg.z_half) if z > 0 else 0.0
            if learn >= 0.5 or self.seen < _CALIBRATE:
                self.seen += 1
                a = max(0.01, 1.0 / self.seen)
                d = raw - self.mean
                self.mean += a * d
                self.var += a * (d * d - self.var)
        if learn >= 0.5:
            self.model.learn_one(dict(x))
            self.learned += 1
        return self.last
