"""Surprise: how unlikely the last few samples' distance is, given the asset's own history.

Why: a fixed bar on a distance suits a machine whose reference fits; a stream that is
naturally noisier or calmer than its reference either alarms for ever or never. The anomaly
likelihood of Ahmad, Lavin, Purdy and Agha (2017, the step behind much of HTM's NAB score)
compares a short mean of the raw score with the mean and spread of a long window of it: a
sudden change fires, a slow one does not (the frozen-reference index covers slow wear).
Applied here to the log distance from the frozen reference, not to an HTM score.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable


class Surprise:
    """Tail z of a short median of ``log1p(raw)`` against a long rolling window of it.

    A median, not NAB's mean: one wild sample (a glitch) must not open a ticket; two in a
    row may.

    >>> s = Surprise(window=500, short=3, floor=0.05, learn=100)
    >>> s.seed([0.5 + 0.1 * (i % 5) for i in range(300)])
    >>> max(s.update(0.5 + 0.1 * (i % 5)) for i in range(100)) < 3
    True
    >>> max(s.update(40.0) for _ in range(5)) > 5   # a sudden jump is surprising
    True
    """

    def __init__(self, window: int, short: int, floor: float, learn: int = 20) -> None:
        self.hist: deque[float] = deque(maxlen=window)
        self.learn = max(learn, 2 * short)
        self.short: deque[float] = deque(maxlen=short)
        self.floor = floor
        self.s1 = 0.0
        self.s2 = 0.0

    def seed(self, raws: Iterable[float]) -> None:
        """Start the history from healthy scores (the reference's own, out of warm-up)."""
        for r in raws:
            self._push(math.log1p(max(0.0, r)))

    def reset_short(self) -> None:
        """Forget the short window (after a held regime step: its first samples are stale)."""
        self.short.clear()

    def _push(self, v: float) -> None:
        if len(self.hist) == self.hist.maxlen:
            old = self.hist[0]
            self.s1 -= old
            self.s2 -= old * old
        self.hist.append(v)
        self.s1 += v
        self.s2 += v * v

    def update(self, raw: float) -> float:
        """Add one raw score; returns how many spreads the short mean is above the history."""
        v = math.log1p(max(0.0, raw))
        self.short.append(v)
        n = len(self.hist)
        z = 0.0
        if n >= self.learn:
            mu = self.s1 / n
            sd = math.sqrt(max(0.0, self.s2 / n - mu * mu))
            z = (_median(self.short) - mu) / max(sd, self.floor)
        self._push(v)
        return z


def _median(xs: deque[float]) -> float:
    """statistics.median for a handful of values, without its overhead on the hot path."""
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
