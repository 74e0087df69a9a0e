"""A frozen healthy reference per asset and a multivariate health index against it.

Why frozen: a model that keeps learning absorbs a slow fault (a half-life of a few hundred
samples swallows a degradation that unfolds over thousands). The reference is learned once,
over the commissioning window (the alarm warm-up), and changes only on purpose
(:meth:`HealthModel.rebaseline`).

Why multivariate: on a machine all sensors move together with load, speed and ambient. A
load step moves them the way they moved during commissioning; a fault breaks that pattern
(or drifts beyond anything seen). Each metric is standardised against its reference
(mean, winsorised spread) and the sample's distance is a shrunk Mahalanobis distance in the
reference's correlation structure (PCA with all components: T² inside the healthy subspace,
residuals off it, the latter weighted by the small eigenvalues), divided by a healthy limit
calibrated on the reference itself (out of sample). Directions the reference varies along
most (its principal components explaining ``subspace`` of the variance) count only
``subspace_weight`` of their distance, so a new load level with the old relationships holds.

Decision: the per-sample excess ``u`` (1 = at the healthy limit) is clipped and smoothed by
an EWMA, so one wild sample cannot alarm but a sustained departure of a fraction of the
limit does; the score is ``squash(ewma, half)`` (0.5 at the bar) and the health index is
``1 - score``. Stops (most metrics near zero, or a silence) hold the state; a settle period
after a restart ignores the transients. Metrics constant in the reference are left out, and
a metric first seen after the reference was learned is ignored (it has no reference).
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from detectors.base import squash
from detectors.configuration import HealthConfig


@dataclass(frozen=True)
class Reference:
    """The frozen healthy reference: metrics kept, their centre/scale, the precision matrix."""

    names: tuple[str, ...]
    center: np.ndarray
    scale: np.ndarray
    precision: np.ndarray
    limit: float
    level: np.ndarray  # median absolute level, for the "near zero = stopped" rule
    basis: np.ndarray  # the dominant healthy directions (p x k), for regime steps
    span: tuple[np.ndarray, np.ndarray]  # operating range seen along them (2nd-98th pct)
    rows: int
    t_from: float | None = None
    t_to: float | None = None


def fit_reference(
    rows: Sequence[Mapping[str, float]],
    cfg: HealthConfig,
    times: Sequence[float] | None = None,
) -> Reference | None:
    """Learn a reference from healthy rows (``None`` when nothing usable varies)."""
    names: list[str] = []
    seen: set[str] = set()
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                names.append(k)
    if not rows or not names:
        return None
    x = np.array([[r.get(k, np.nan) for k in names] for r in rows], dtype=float)
    keep, centers, scales = [], [], []
    for j in range(x.shape[1]):
        col = x[:, j]
        col = col[np.isfinite(col)]
        if len(col) < max(5, 0.5 * len(x)):
            continue
        lo, hi = np.quantile(col, [0.01, 0.99])
        w = np.clip(col, lo, hi)
        mu = float(np.median(col))
        sd = float(w.std())
        floor = max(cfg.min_std_rel * abs(mu), cfg.min_std_abs)
        if hi - lo <= floor and sd <= floor:
            continue  # constant in the reference: nothing to learn, nothing to compare
        keep.append(j)
        centers.append(float(w.mean()))
        scales.append(max(sd, floor))
    if not keep:
        return None
    c, s = np.array(centers), np.array(scales)
    z = (x[:, keep] - c) / s
    z = np.nan_to_num(np.clip(z, -cfg.clip, cfg.clip))
    precision, basis = _decompose(z, cfg)
    limit = _limit(z, cfg)
    level = np.median(np.abs(np.nan_to_num(x[:, keep])), axis=0)
    tt = list(times) if times else []
    return Reference(
        names=tuple(names[j] for j in keep),
        center=c,
        scale=s,
        precision=precision,
        limit=limit,
        level=level,
        basis=basis,
        span=(np.quantile(z @ basis, 0.02, axis=0), np.quantile(z @ basis, 0.98, axis=0)),
        rows=len(rows),
        t_from=tt[0] if tt else None,
        t_to=tt[-1] if tt else None,
    )


def _precision(z: np.ndarray, cfg: HealthConfig) -> np.ndarray:
    return _decompose(z, cfg)[0]


def _decompose(z: np.ndarray, cfg: HealthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Shrunk inverse correlation, with the dominant healthy directions down-weighted."""
    p = z.shape[1]
    cov = (z.T @ z) / max(1, len(z))
    # few rows for many metrics (a short commissioning) need more shrinkage towards I
    shrink = max(cfg.shrink, min(0.5, p / max(1, len(z))))
    cov = (1 - shrink) * cov + shrink * np.eye(p)
    lam, vec = np.linalg.eigh(cov)
    lam = np.maximum(lam, cfg.eig_floor)
    order = np.argsort(lam)[::-1]
    lam, vec = lam[order], vec[:, order]
    share = np.cumsum(lam) / lam.sum()
    k = int(np.searchsorted(share, cfg.subspace)) + 1 if p > 1 else 0
    # only directions that dominate the reference (a load, a speed) count as operating
    # directions; a reference that is mostly noise has none
    dom = min(k, int(np.sum(lam / lam.sum() >= max(cfg.dominant, 2.0 / p))), p - 1)
    w = np.ones(p)
    w[: min(k, p - 1)] = cfg.subspace_weight  # never down-weight every direction
    out: np.ndarray = (vec * (w / lam)) @ vec.T / p
    return out, vec[:, :dom]


def _limit(z: np.ndarray, cfg: HealthConfig) -> float:
    """Healthy limit of the distance: fit on the first part, quantile on the rest."""
    n = len(z)
    cut = max(2, int(n * 0.6))
    if n - cut >= 10:
        pre = _precision(z[:cut], cfg)
        d = np.einsum("ij,jk,ik->i", z[cut:], pre, z[cut:])
        d_in = np.einsum("ij,jk,ik->i", z, _precision(z, cfg), z)
        lim = max(float(np.quantile(d, cfg.quantile)), float(np.quantile(d_in, cfg.quantile)))
    else:
        d_in = np.einsum("ij,jk,ik->i", z, _precision(z, cfg), z)
        lim = float(np.quantile(d_in, cfg.quantile))
    return max(lim * cfg.limit_factor, cfg.limit_floor)


def _impute(z: np.ndarray, miss: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Conditional mean of the missing standardised values given the present ones."""
    out = np.where(miss, 0.0, z)
    if miss.all():
        return out
    pmm = precision[np.ix_(miss, miss)]
    pmo = precision[np.ix_(miss, ~miss)]
    with contextlib.suppress(np.linalg.LinAlgError):  # singular: keep the reference mean
        out[miss] = -np.linalg.solve(pmm, pmo @ out[~miss])
    return out


class HealthModel:
    """Collects the commissioning window, freezes a :class:`Reference`, then scores against it.

    >>> from detectors.configuration import HealthConfig
    >>> hm = HealthModel(HealthConfig(alpha=0.2))
    >>> import math
    >>> for i in range(300):  # load swings, both sensors follow
    ...     load = 50 + 20 * math.sin(i / 20)
    ...     _ = hm.update(float(i), {"a": load + (i % 3) * 0.1, "b": 2 * load - (i % 2) * 0.2})
    >>> hm.freeze()
    >>> hm.update(300.0, {"a": 80.0, "b": 160.0}) < 0.5   # new load level, relation holds
    True
    >>> max(hm.update(301.0 + i, {"a": 50.0, "b": 130.0}) for i in range(20)) > 0.5
    True
    """

    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg
        self.ref: Reference | None = None
        self.train: list[dict[str, float]] = []
        self.train_t: list[float] = []
        self.ewma = 0.0
        self.u = 0.0
        self._zz: np.ndarray | None = None
        self._pz: np.ndarray | None = None
        self.stopped = False
        self.settling = 0
        self.score = 0.0
        self.scored = False
        self.regimes_added = 0
        self._regime_reset()

    def _regime_reset(self) -> None:
        p = 0 if self.ref is None else len(self.ref.names)
        self.regimes: list[np.ndarray] = [np.zeros(p)]
        self.recent: deque[np.ndarray] = deque(maxlen=5)
        self.recent_sum = np.zeros(p)
        self.slow = np.zeros(p)
        self.pending = 0
        self.pend_sum = np.zeros(p)
        self.pend_n = 0
        self.pre = np.zeros(p)
        self.pre_regime = np.zeros(p)
        self.restart = False
        if self.ref is not None and self.ref.basis.size:
            self.span = (self.ref.span[0].copy(), self.ref.span[1].copy())
        else:
            self.span = (np.zeros(0), np.zeros(0))

    @property
    def frozen(self) -> bool:
        return self.ref is not None

    def collect(self, t: float, x: Mapping[str, float]) -> None:
        if len(self.train) < self.cfg.max_rows:
            self.train.append(dict(x))
            self.train_t.append(t)

    def freeze(self) -> None:
        """Learn the reference from what was collected; later samples never change it."""
        self.ref = fit_reference(self.train, self.cfg, self.train_t)
        if self.ref is None:
            return  # nothing varies yet: keep collecting, try again later
        self.train, self.train_t = [], []
        self.ewma = 0.0
        self._regime_reset()

    def rebaseline(self, rows: Sequence[Mapping[str, float]], times: Sequence[float]) -> bool:
        """Replace the reference with one learned from ``rows`` (on purpose only)."""
        ref = fit_reference(rows, self.cfg, times)
        if ref is None:
            return False
        self.ref = ref
        self.ewma = 0.0
        self._regime_reset()
        return True

    def is_stopped(self, x: Mapping[str, float]) -> bool:
        """Most metrics with a clearly non-zero reference level are near zero."""
        if self.ref is None:
            return False
        return self._stopped(np.array([x.get(k, math.nan) for k in self.ref.names]))

    def _stopped(self, v: np.ndarray) -> bool:
        assert self.ref is not None
        level = self.ref.level
        live = (level > 0) & ~np.isnan(v)
        n = int(live.sum())
        if n < 2:
            return False
        near = int((np.abs(v[live]) < self.cfg.stop_level * level[live]).sum())
        return near >= self.cfg.stop_share * n

    def update(
        self, t: float, x: Mapping[str, float], restarted: bool = False, extend: bool = True
    ) -> float:
        """Score one running sample against the frozen reference (collect before freezing)."""
        if self.ref is None:
            self.collect(t, x)
            return 0.0
        self.scored = False
        ref = self.ref
        v = np.array([x.get(k, math.nan) for k in ref.names])
        stopped = self._stopped(v)
        if stopped or restarted:
            self.settling = self.cfg.settle
        self.stopped = stopped
        if stopped:
            return self.score  # a stop is a state, not a fault: hold everything
        if self.settling > 0:
            self.settling -= 1
            self.restart = True  # after a restart the operating point may be new: judge it
            self.recent.clear()
            self.recent_sum = np.zeros(len(self.ref.names))
            return self.score
        self.scored = True
        cfg = self.cfg
        z = np.minimum(np.maximum((v - ref.center) / ref.scale, -cfg.clip), cfg.clip)
        miss = np.isnan(z)
        if miss.any():  # a dropout: its expected value given the others, not the mean
            z = _impute(z, miss, ref.precision)
        best = None
        for c in self.regimes:
            zz = z - c
            pz = ref.precision @ zz
            d = float(zz @ pz)
            if best is None or d < best[0]:
                best = (d, zz, pz)
        assert best is not None
        d, zz, pz = best
        u = min(d / ref.limit, cfg.cap)
        self.u = u
        self._zz, self._pz = zz, pz  # the per-metric views are built only when asked for
        if self._regime_step(z, u, extend):
            return self.score  # a step to another operating point is being looked at
        self.ewma += cfg.alpha * (u - self.ewma)
        self.score = squash(self.ewma, cfg.half) if self.ewma > 0 else 0.0
        return self.score

    def _regime_step(self, z: np.ndarray, u: float, extend: bool) -> bool:
        """An abrupt step to a steady new operating point along the healthy directions is a
        new regime, not a fault: hold the score while it settles, then keep it as a regime.

        Faults develop; load changes jump. A step that is not along the directions the
        reference varies in (a relationship broke) is released to the score untouched.
        """
        cfg, ref = self.cfg, self.ref
        assert ref is not None
        if len(self.recent) == self.recent.maxlen:
            self.recent_sum -= self.recent[0]
        self.recent.append(z)
        self.recent_sum += z
        if self.pending:
            self.pending -= 1
            if self.pending < cfg.regime_learn:
                self.pend_sum += z
                self.pend_n += 1
            if self.pending == 0:
                c = self.pend_sum / max(1, self.pend_n)
                step = c - self.pre
                # what had already left the healthy directions before the step (a developing
                # fault) stays out of the new operating point
                off = self.pre - self.pre_regime
                basis = ref.basis
                new = c - (off - basis @ (basis.T @ off))
                self.slow = c.copy()
                dist = min(float((new - r) @ ref.precision @ (new - r)) for r in self.regimes)
                pos = ref.basis.T @ new
                lo, hi = self.span
                outside = bool(
                    np.any(pos < lo - cfg.regime_inside * (hi - lo))
                    or np.any(pos > hi + cfg.regime_inside * (hi - lo))
                )
                if (
                    outside  # only beyond the operating range seen: inside it, nothing to add
                    and dist > cfg.regime_new * ref.limit
                    and self._along(step) >= cfg.regime_align
                    and len(self.regimes) < cfg.regime_max
                ):
                    self.regimes.append(new)
                    self.regimes_added += 1
                    self.span = (np.minimum(lo, pos), np.maximum(hi, pos))
            return True
        if cfg.regime_wait and extend and len(self.recent) == self.recent.maxlen:
            diff = self.recent_sum / len(self.recent) - self.slow
            restart, self.restart = self.restart, False
            if restart or (
                float(diff @ diff) > cfg.regime_step**2 * len(diff)
                and self._along(diff) >= cfg.regime_align
            ):
                self.pre = self.slow.copy()
                self.pre_regime = min(
                    self.regimes,
                    key=lambda r: float((self.pre - r) @ ref.precision @ (self.pre - r)),
                )
                self.pending = cfg.regime_wait
                self.pend_sum = np.zeros_like(z)
                self.pend_n = 0
                return True
        self.slow += 0.02 * (z - self.slow)
        return False

    def _along(self, v: np.ndarray) -> float:
        """Share of ``v`` (squared) in the reference's dominant directions."""
        assert self.ref is not None
        basis = self.ref.basis
        norm = float(v @ v)
        if not basis.size or norm <= 0:
            return 0.0
        return float(np.sum((basis.T @ v) ** 2)) / norm

    @property
    def z(self) -> dict[str, float]:
        """Signed deviation of each metric from its nearest operating point (reference sigmas)."""
        if self.ref is None or self._zz is None:
            return {}
        return dict(zip(self.ref.names, self._zz.tolist(), strict=True))

    @property
    def contrib(self) -> dict[str, float]:
        """Each metric's share of the distance (z_i * (P z)_i; they sum to the distance)."""
        if self.ref is None or self._zz is None or self._pz is None:
            return {}
        return dict(zip(self.ref.names, (self._zz * self._pz).tolist(), strict=True))

    @property
    def health(self) -> float:
        """0 (failed) .. 1 (as healthy as the reference)."""
        return 1.0 - self.score
