"""Sample counts are set for one sample a minute; coarser data has them shortened to the same time.

Why: every count of the configuration (the warm-up, a load step's hold, the settle time after a
restart, the smoothing of the excess and of the charts) was chosen and measured on data at one
sample a minute. A historian's export of 10-minute means read them as ten times as long: a load
step held for 20 hours (load changes every 4-12 h), a 50-hour warm-up, an excess smoothed over
three hours. On our regime cases at 10-minute means that saw 3 of 10 degradations, none a day
ahead (10 of 10 at one a minute), and on the second generator's physics none at all.

Counts are divided by the ratio of the intervals; a smoothing rate (the excess's EWMA, the
charts') is applied only its square root times per coarse sample (``timing.rate_power``): a
coarse sample is a mean, smoothed already. Chosen on the tuned seed sets at 10-minute means
(physics 30000+ / 31000+, regime 1000+ / 2000+; degradations seen, false episodes): rates kept
per sample 35/40 seen, 5 false; the same time constant 28/40, 0 false; its square root 33/40,
0 false (the same order at 5 and 30 minutes).

Faster data keeps the counts as they are: at 1 Hz they were tuned per sample too (SKAB), and a
pump's faults on that bed last minutes, not hours. A cycle counter (run-to-failure files) is not
a clock and is never rescaled, nor is a warm-up given on purpose (``forewarn replay --warmup``).

>>> from detectors.configuration import ClassConfig
>>> cfg = retimed(ClassConfig(), 600.0)
>>> cfg.health.regime_wait, cfg.alarm.warmup, round(cfg.health.alpha, 3)
(12, 30, 0.15)
>>> retimed(ClassConfig(), 1.0) == ClassConfig()
True
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detectors.configuration import ClassConfig

# the counts (samples) and rates (per sample) that stand for a length of time
_COUNTS = {
    "health": ("settle", "regime_wait", "regime_learn", "regime_settle", "wander_lag",
               "repair_settle", "commission_rows", "surprise_window", "surprise_learn"),
    "alarm": ("warmup", "cooldown"),
    "preprocess": ("settle",),
}  # fmt: skip
_RATES = {"health": ("alpha", "chart_alpha")}
_CLOCK = 1e8  # epoch seconds after 1973: a clock, not a cycle or row counter
SAMPLES = 10  # intervals measured before the counts are set


def interval(times: Sequence[float]) -> float | None:
    """The usual interval of ``times`` (the median step), when they are a clock."""
    if len(times) < 2 or min(times) < _CLOCK:
        return None
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median(steps) if steps else None


def retimed(cfg: ClassConfig, seconds: float) -> ClassConfig:
    """``cfg`` with its counts and rates for samples ``seconds`` apart (unchanged when that is
    no coarser than ``timing.interval_s``, or ``timing.interval_s`` is 0)."""
    base = cfg.timing.interval_s
    if base <= 0 or seconds <= base * cfg.timing.coarser:
        return cfg
    r = min(seconds / base, cfg.timing.max_ratio)
    patch: dict[str, Any] = {}
    for section, names in _COUNTS.items():
        old = getattr(cfg, section)
        new = {}
        for name in names:
            if name in ("warmup", "commission_rows") and cfg.timing.fixed_warmup:
                continue  # the reference is exactly the rows given
            n = getattr(old, name)
            new[name] = n if n == 0 else max(min(n, 3), round(n / r))
        patch[section] = new
    times = r**cfg.timing.rate_power  # a rate set per sample applies this many times per sample
    for section, names in _RATES.items():
        old = getattr(cfg, section)
        patch[section].update({k: 1 - (1 - getattr(old, k)) ** times for k in names})
    return cfg.model_copy(
        update={k: getattr(cfg, k).model_copy(update=v) for k, v in patch.items()}
    )


__all__ = ["SAMPLES", "interval", "retimed"]
