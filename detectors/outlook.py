"""The health index's trend and the time until it crosses the alarm bar.

The health index is ``1 - score``, where the score is what the alarm latch reads (the
smoothed departure from the frozen reference, detectors/health.py): 1 is as healthy as the
reference, the alarm opens at ``1 - on_threshold``. O(1) per sample (a few exponentially
weighted moments in centred form, so a year of hours loses no precision), so it runs on every
scored sample; the line is solved only when someone asks.

Why the line is fitted to the log-odds of the score, not to the index: the score squashes a
squared distance (``d^2 / (d^2 + half^2)``), so a fault that grows at a steady pace moves the
index hardly at all for hours and then falls off a cliff. A straight line through the index
was late by a factor of 3-12 on the simulator's slow faults (it said "30 h" three hours
before the alarm). ``log(s / (1 - s)) = 2 log(d / half)`` is straight when the departure grows
by a steady factor, and the bar is ``logit(on_threshold)``; on the same faults the forecast
was between half and 1.5 times the true time. Where growth slows, the line comes early,
which is the side to err on. The slope per day is the index's own, along that fitted curve.

An honest forecast says nothing rather than something made up:

- none before ``min_points`` scored samples since the reference (re)started;
- nothing moves while the index is above 0.95 (scores under 0.05 count as 0.05);
- none unless the line explains at least ``min_r2`` of the variation (healthy noise wanders
  but is not a line);
- none further ahead than ``horizon`` times the time span the fit has seen (a line through
  three hours says nothing about next month);
- nothing is fed during warm-up, re-learning or stops, and a new reference starts a new fit
  (:meth:`HealthOutlook.reset`): the old index measured against something else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from detectors.configuration import OutlookConfig

_SPAN = math.sqrt(12.0)  # a uniform window of length L has a standard deviation L / sqrt(12)
# Scores are clipped to [floor, 1 - floor] before the log-odds. The floor matters: in log-odds
# a score going from 0.001 to 0.01 is as steep as one going from 0.1 to 0.5, and a healthy
# index wanders down there (a floor of 1e-4 forecast "6 h" at health 0.99 during healthy load
# steps); an index above 0.95 is as healthy as the reference can tell.
_EPS = 0.05


def logit(s: float) -> float:
    """Log-odds of a score clipped to [0.05, 0.95] (a score of 0 is common when all is well)."""
    s = _EPS if s < _EPS else (1.0 - _EPS if s > 1.0 - _EPS else s)
    return math.log(s / (1.0 - s))


@dataclass(frozen=True, slots=True)
class Outlook:
    """One asset's health now, its trend per day and the hours until the alarm bar."""

    health: float | None = None
    slope_per_day: float | None = None
    time_to_threshold_h: float | None = None


class HealthOutlook:
    """EW line of the score's log-odds against time (hours); ``outlook(bar)`` reads it.

    >>> ol = HealthOutlook(OutlookConfig(alpha=0.02, min_points=30))
    >>> for i in range(200):  # a departure growing 5 % an hour, a sample every 6 minutes
    ...     h = i / 10
    ...     ol.update(h * 3600.0, 1 / (1 + math.exp(2.5 - 0.1 * h)))
    >>> ol.outlook(bar=0.5)  # health 0.625 now; the bar (health 0.5) is 5.1 h away
    Outlook(health=0.6248, slope_per_day=-0.5626, time_to_threshold_h=5.1)
    >>> ol.reset(); ol.outlook(0.5)  # a new reference: nothing to say yet
    Outlook(health=None, slope_per_day=None, time_to_threshold_h=None)
    """

    def __init__(self, config: OutlookConfig) -> None:
        self.cfg = config
        self.reset()

    def reset(self) -> None:
        """Forget the fit (the reference changed, or re-learning began)."""
        self.n = 0
        self.t0 = 0.0
        self.t = 0.0  # hours since t0 of the latest sample
        self.s = 0.0  # latest score
        self.mt = self.my = 0.0  # EW means of time and log-odds
        self.vt = self.vy = self.cty = 0.0  # EW (co)variances

    def update(self, ts: float, score: float) -> None:
        """One scored sample: ``ts`` in seconds, ``score`` the alarm input (0..1)."""
        if self.n == 0:
            self.t0 = ts
        t = (ts - self.t0) / 3600.0
        y = logit(score)
        self.n += 1
        a = 1.0 / self.n if self.n * self.cfg.alpha < 1.0 else self.cfg.alpha
        dt, dy = t - self.mt, y - self.my
        self.mt += a * dt
        self.my += a * dy
        b = 1.0 - a
        self.vt = b * (self.vt + a * dt * dt)
        self.vy = b * (self.vy + a * dy * dy)
        self.cty = b * (self.cty + a * dt * dy)
        self.t, self.s = t, score

    @property
    def health(self) -> float | None:
        """The index now: 1 - the latest score, in [0, 1]; None before any sample."""
        if self.n == 0:
            return None
        return min(1.0, max(0.0, 1.0 - self.s))

    def _line(self) -> tuple[float, float] | None:
        """(fitted log-odds now, slope per hour), once enough points spread over time."""
        if self.n < self.cfg.min_points or self.vt <= 1e-12:
            return None
        slope = self.cty / self.vt
        return self.my + slope * (self.t - self.mt), slope

    def slope_per_day(self) -> float | None:
        """The index's change per day along the fitted curve (negative: getting worse)."""
        line = self._line()
        if line is None:
            return None
        s = 1.0 / (1.0 + math.exp(-line[0]))
        return -s * (1.0 - s) * line[1] * 24.0  # d(1 - sigmoid(y))/dt

    def time_to(self, bar: float) -> float | None:
        """Hours until the index reaches ``bar`` (0 when at or under it now); None when not
        heading there, or when the line is not worth extrapolating."""
        line = self._line()
        if line is None:
            return None
        if 1.0 - self.s <= bar:
            return 0.0
        level, slope = line
        # r^2 = cov^2 / (var_t var_y) = slope * cov / var_y
        if slope <= 0 or self.vy <= 0 or slope * self.cty < self.cfg.min_r2 * self.vy:
            return None
        hours = max(0.0, (logit(1.0 - bar) - level) / slope)
        if hours > self.cfg.horizon * _SPAN * math.sqrt(self.vt):
            return None
        return hours

    def outlook(self, bar: float) -> Outlook:
        """Health now, slope per day and hours to health ``bar``, rounded for events."""
        health = self.health
        slope = self.slope_per_day()
        ttt = self.time_to(bar)
        return Outlook(
            health=None if health is None else round(health, 4),
            slope_per_day=None if slope is None else round(slope, 4),
            time_to_threshold_h=None if ttt is None else round(ttt, 3),
        )
