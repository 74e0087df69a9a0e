"""The small interface every scoring algorithm implements, river-style.

One call scores the sample *before* learning from it (prequential, hence causal) because
scoring and learning separately would walk the same state twice on the hot path.
``learn`` in [0, 1] scales learning, which is how the asset detector slows the baseline
down while an alarm is developing instead of learning the fault as normal.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping


def squash(z: float, half: float) -> float:
    """Map |z| onto [0, 1): 0 at 0, 0.5 at ``half``, towards 1 beyond.

    >>> squash(0.0, 5.0), squash(5.0, 5.0), round(squash(-15.0, 5.0), 2)
    (0.0, 0.5, 0.9)
    """
    z2 = z * z
    return z2 / (z2 + half * half)


class Scorer(abc.ABC):
    """Scores one asset vector and learns from it; exposes per-metric signed evidence."""

    name: str = "scorer"

    @abc.abstractmethod
    def update_one(self, x: Mapping[str, float], learn: float = 1.0) -> float:
        """Return the anomaly score in [0, 1] of ``x``, then learn from it with weight ``learn``."""

    def evidence(self) -> dict[str, float]:
        """Signed per-metric deviation (in baseline sigmas) behind the last score."""
        return {}


def finite(value: object) -> float | None:
    """A float, or None for missing, NaN, infinite and non-numeric values.

    >>> finite(1), finite(float("nan")), finite(None), finite("x")
    (1.0, None, None, None)
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
