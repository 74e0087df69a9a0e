"""Between two known operating points: what the healthy relations read there, interpolated.

The reference's relations are straight lines fitted over the commissioning loads, and a
machine is not straight (pressure and a filter's pressure drop grow with the square of flow).
Beyond the loads seen, each settled step is kept as an operating point with its own offset
(health.py's regimes); a later load *between* two of them was judged against the nearer one,
and a straight line's miss there, a few sigmas on a quiet pressure, added up in the residual
charts to a false alarm an hour or two after the step.

So the offsets of the known points are interpolated along the load: piecewise linear in the
operating coordinate, flat beyond the outermost point, zero across the reference's own span.
Each metric's coordinate leaves the metric itself out, so a fault in one metric does not
move its own expected value. It is one more candidate beside the points themselves; the
nearest still wins.

>>> import numpy as np
>>> dirs = np.array([[0.0, 1.0], [1.0, 0.0]])  # each metric's load, read off the other
>>> curve = LoadCurve(dirs, lo=np.array([-1.0, -1.0]), hi=np.array([1.0, 1.0]))
>>> curve.add(np.array([3.0, 3.0]), np.array([0.0, 2.0]))  # at load 3 the 2nd reads +2
>>> curve.offset(np.array([2.0, 2.0])).tolist()  # halfway from the span's edge
[0.0, 1.0]
>>> curve.offset(np.array([0.5, 0.5])).tolist(), curve.offset(np.array([9.0, 9.0])).tolist()
([0.0, 0.0], [0.0, 2.0])
"""

from __future__ import annotations

import numpy as np


def leave_one_out(direction: np.ndarray) -> np.ndarray:
    """p x p: column j is ``direction`` without metric j (its load read off the others)."""
    p = len(direction)
    out: np.ndarray = direction[:, None] * (1.0 - np.eye(p))
    return out


class LoadCurve:
    """Known operating points' offsets per metric, sorted along each metric's coordinate."""

    def __init__(self, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.dirs = dirs
        p = dirs.shape[1]
        self.at = np.vstack([lo, hi])  # the reference's own span: no offset
        self.off = np.zeros((2, p))
        self._cols = np.arange(p)

    @property
    def points(self) -> int:
        return len(self.at) - 2

    def add(self, z: np.ndarray, offset: np.ndarray) -> None:
        """Keep an operating point ``z`` (standardised) whose residual offset is ``offset``."""
        at = np.vstack([self.at, z @ self.dirs])
        off = np.vstack([self.off, offset])
        order = np.argsort(at, axis=0, kind="stable")
        self.at = np.take_along_axis(at, order, axis=0)
        self.off = np.take_along_axis(off, order, axis=0)

    def offset(self, z: np.ndarray) -> np.ndarray:
        """Each metric's interpolated residual offset at ``z``."""
        s = z @ self.dirs
        at, off, cols = self.at, self.off, self._cols
        m = len(at)
        hi = np.minimum((at <= s).sum(axis=0), m - 1)  # first point above (or the last)
        lo = np.maximum(hi - 1, 0)
        a0, a1 = at[lo, cols], at[hi, cols]
        gap = a1 - a0
        w = np.where(gap > 0, np.clip((s - a0) / np.where(gap > 0, gap, 1.0), 0.0, 1.0), 1.0)
        out: np.ndarray = off[lo, cols] + w * (off[hi, cols] - off[lo, cols])
        return out
