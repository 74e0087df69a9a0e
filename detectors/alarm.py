"""Alarm latch: warm-up, k-of-n persistence to open, hysteresis to clear, cooldown between.

One spike is not a ticket: an alarm opens only when ``k`` of the last ``n`` scores reach
the bar, clears only after ``clear_after`` consecutive scores under the lower bar, and a new
alarm cannot open within ``cooldown`` samples of a clear. "No fault found" feedback raises
the bar (both bars, by ``nff_step``, up to ``nff_max``).
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from detectors.configuration import AlarmConfig

Transition = Literal["open", "cleared"] | None


class AlarmPolicy:
    """Turns a score stream into a latched alarm state and its transitions.

    >>> ap = AlarmPolicy(AlarmConfig(warmup=0, k=2, n=3, clear_after=2, cooldown=0))
    >>> [ap.update(s) for s in (0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1)]
    [None, None, 'open', None, None, 'cleared', None]
    """

    def __init__(self, config: AlarmConfig) -> None:
        self.cfg = config
        self.seen = 0
        self.recent: deque[bool] = deque(maxlen=config.n)
        self.active = False
        self.below = 0
        self.since_clear = config.cooldown
        self.raise_by = 0.0
        self.nff = 0
        self.confirmed = 0

    @property
    def on_threshold(self) -> float:
        return min(0.99, self.cfg.on_threshold + self.raise_by)

    @property
    def off_threshold(self) -> float:
        return min(self.on_threshold, self.cfg.off_threshold + self.raise_by)

    @property
    def warming_up(self) -> bool:
        return self.seen < self.cfg.warmup

    def update(self, score: float) -> Transition:
        self.seen += 1
        if self.seen <= self.cfg.warmup:
            return None
        self.since_clear += 1
        self.recent.append(score >= self.on_threshold)
        if not self.active:
            if sum(self.recent) >= self.cfg.k and self.since_clear > self.cfg.cooldown:
                self.active = True
                self.below = 0
                return "open"
            return None
        if score < self.off_threshold:
            self.below += 1
            if self.below >= self.cfg.clear_after:
                self.active = False
                self.since_clear = 0
                self.recent.clear()
                return "cleared"
        else:
            self.below = 0
        return None

    def feedback(self, resolution: str) -> None:
        """Record a ticket resolution; each 'no_fault_found' raises this asset's bar a step."""
        if resolution == "no_fault_found":
            self.nff += 1
            self.raise_by = min(self.cfg.nff_max, self.raise_by + self.cfg.nff_step)
        elif resolution in ("confirmed", "fixed"):
            self.confirmed += 1
        else:
            raise ValueError(
                f"unknown resolution {resolution!r} (confirmed, fixed, no_fault_found)"
            )
