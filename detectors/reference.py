"""The frozen healthy reference of one asset: what it learns from commissioning rows.

Each metric is standardised against the reference (mean, winsorised spread). Metrics that
roam slowly while healthy (temperatures: over ``wander_lag`` samples they move much further
than from one sample to the next, more than the asset's fastest metric does) are judged on
a proportionally wider scale. The metrics'
healthy relations are a ridge-shrunk precision matrix: each metric's residual given the
others ("what the others say it should read") is what a broken relation shows in. The
healthy limit of the distance is calibrated out of sample on the reference itself, and the
reference keeps each residual chart's healthy spread and the healthy distances that start
the surprise history.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from detectors.configuration import HealthConfig
from detectors.operating import leave_one_out


@dataclass(frozen=True)
class Reference:
    """The frozen healthy reference: metrics kept, their centre/scale, the precision matrix."""

    names: tuple[str, ...]
    center: np.ndarray
    scale: np.ndarray
    precision: np.ndarray
    limit: float
    level: np.ndarray  # median absolute level, for the "near zero = stopped" rule
    weight: np.ndarray  # 1 / wander: a metric that roams slowly while healthy counts less
    diag: np.ndarray  # diagonal of the precision, for each metric's conditional residual
    chart_sd: np.ndarray  # healthy spread of each metric's EWMA residual chart
    chart_prec: np.ndarray  # inverse (shrunk) correlation of the residuals: the joint chart
    seed: np.ndarray  # the reference's own (in-sample) excess, to start the surprise history
    basis: np.ndarray  # the dominant healthy directions (p x k), for regime steps
    span: tuple[np.ndarray, np.ndarray]  # operating range seen along them (2nd-98th pct)
    rows: int
    t_from: float | None = None
    t_to: float | None = None
    # each metric's load read off the others (p x p) and its span (2nd-98th pct): where
    # operating points beyond the reference are interpolated (detectors/operating.py)
    along: np.ndarray | None = None
    along_span: tuple[np.ndarray, np.ndarray] | None = None
    # each metric's healthy step from one sample to the next (root median square, reference
    # sigmas): what a fault rule's "noisy" is judged against
    step: np.ndarray | None = None


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
    return fit_table(names, x, cfg, times)


def fit_table(
    names: Sequence[str], x: np.ndarray, cfg: HealthConfig, times: Sequence[float] | None = None
) -> Reference | None:
    """:func:`fit_reference` of rows already in a matrix (a column per name, NaN missing)."""
    keep, c, s = _levels(x, cfg)
    if not keep:
        return None
    z = (x[:, keep] - c) / s
    z = np.nan_to_num(np.clip(z, -cfg.clip, cfg.clip))
    precision, basis = _decompose(z, cfg)
    wander, step = _wanders(z, cfg)
    wt = 1.0 / wander
    precision = precision * np.outer(wt, wt)
    limit, healthy = _limit(z, precision, cfg, wt)
    diag = _diag(precision, wt)
    level = median(np.abs(np.nan_to_num(x[:, keep])))
    tt = list(times) if times else []
    along = leave_one_out(basis[:, 0]) if basis.size else None
    load = None if along is None else z @ along
    return Reference(
        names=tuple(names[j] for j in keep),
        center=c,
        scale=s,
        precision=precision,
        limit=limit,
        level=level,
        weight=wt,
        diag=diag,
        chart_sd=_chart_sd(z, precision, diag, cfg),
        chart_prec=_chart_prec(z, precision, diag),
        seed=healthy[-cfg.surprise_window :] / limit,
        basis=basis,
        span=_span(z @ basis),
        rows=len(x),
        t_from=tt[0] if tt else None,
        t_to=tt[-1] if tt else None,
        along=along,
        along_span=None if load is None else _span(load),
        step=step,
    )


def fit_trimmed(
    names: Sequence[str],
    x: np.ndarray,
    cfg: HealthConfig,
    times: Sequence[float] | None,
    wild: float,
) -> Reference | None:
    """:func:`fit_table` of every row, then again without the rows beyond ``wild`` healthy
    limits under that first fit (spikes, not the relations the window spans)."""
    ref = fit_table(names, x, cfg, times)
    if ref is None:
        return None
    z = _standardised(ref, names, x, cfg)
    keep = _distances(z, ref.precision, cfg, ref.weight) / ref.limit <= wild
    if keep.all() or keep.sum() < len(keep) // 2:
        return ref
    tt = None if times is None else [t for t, k in zip(times, keep, strict=True) if k]
    return fit_table(names, x[keep], cfg, tt) or ref


def alarm_shift(
    ref: Reference, names: Sequence[str], x: np.ndarray, ok: np.ndarray, cfg: HealthConfig
) -> float | None:
    """The largest shift of a metric's residual under ``ref`` between the rows not ``ok``
    and the rest, in the residual's own spread over the rest (None: too few of either).

    A fit over rows that a relation's step splits in two is a compromise: each side's
    residual sits off zero in opposite directions. Rows a wider window explains do not.
    """
    if ok.sum() < 10 or (~ok).sum() < 10:
        return None
    r = (_standardised(ref, names, x, cfg) @ ref.precision) / np.sqrt(ref.diag)
    sd = np.maximum(r[ok].std(axis=0), 1e-9)
    return float(np.max(np.abs(r[~ok].mean(axis=0) - r[ok].mean(axis=0)) / sd))


def _standardised(
    ref: Reference, names: Sequence[str], x: np.ndarray, cfg: HealthConfig
) -> np.ndarray:
    """Rows of ``x`` (a column per name of ``names``) in ``ref``'s sigmas, its metrics only."""
    cols = x[:, [list(names).index(n) for n in ref.names]]
    return np.nan_to_num(np.clip((cols - ref.center) / ref.scale, -cfg.clip, cfg.clip))


def quantiles(a: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """``np.quantile(a, qs, axis=0)`` bit for bit (numpy's default 'linear' method) for an
    array without NaN: one partition, without numpy's generic machinery around it (masked
    array checks, ``unique``, axis moves), which was most of a commissioning re-fit's cost.

    >>> a = np.random.default_rng(0).normal(size=(101, 3))
    >>> bool(np.array_equal(quantiles(a, (0.02, 0.5, 0.98)), np.quantile(a, [0.02, 0.5, 0.98], axis=0)))
    True
    """
    n = a.shape[0]
    v = (n - 1) * np.asarray(qs, dtype=float)
    lo = np.floor(v)
    top = v >= n - 1  # the last value, as numpy takes it
    i = np.where(top, n - 1, lo).astype(np.intp)
    j = np.where(top, n - 1, lo + 1).astype(np.intp)
    part = np.partition(a, np.unique(np.concatenate((i, j))), axis=0)
    prev, nxt = part[i], part[j]
    g = (v - lo).reshape((-1,) + (1,) * (a.ndim - 1))
    diff = nxt - prev
    return np.where(g >= 0.5, nxt - diff * (1 - g), prev + diff * g)  # numpy's _lerp


def median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=0)`` bit for bit, for an array without NaN (as :func:`quantiles`).

    >>> a = np.random.default_rng(1).normal(size=(10, 4))
    >>> bool(np.array_equal(median(a), np.median(a, axis=0)))
    True
    """
    h = a.shape[0] // 2
    if a.shape[0] % 2:
        return np.partition(a, h, axis=0)[h]
    part = np.partition(a, (h - 1, h), axis=0)
    return (part[h - 1] + part[h]) / 2.0


def _levels(x: np.ndarray, cfg: HealthConfig) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The metrics kept (finite in enough rows, not constant), their centre and spread.

    All columns at once (the growing commissioning re-fits often); a missing value counts
    in no statistic, as if the row lacked that metric."""
    n = len(x)
    seen = np.isfinite(x).sum(axis=0)
    enough = seen >= max(5, 0.5 * n)
    cols = x[:, enough]
    if not cols.size:
        return [], np.zeros(0), np.zeros(0)
    # numpy's nan-aware quantiles loop over columns in Python; the growing commissioning
    # re-fits often and rows seldom miss a value, so the partition ones when none is missing
    if np.isnan(cols).any():
        lo, hi = np.nanquantile(cols, [0.01, 0.99], axis=0)
        mid = np.nanmedian(cols, axis=0)
    else:
        lo, hi = quantiles(cols, (0.01, 0.99))
        mid = median(cols)
    w = np.clip(cols, lo, hi)
    sd = np.nanstd(w, axis=0)
    floor = np.maximum(cfg.min_std_rel * np.abs(mid), cfg.min_std_abs)
    ok = ~((hi - lo <= floor) & (sd <= floor))  # constant: nothing to learn or compare
    keep = [int(j) for j in np.flatnonzero(enough)[ok]]
    return keep, np.nanmean(w, axis=0)[ok], np.maximum(sd, floor)[ok]


def _span(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2nd and 98th percentiles of each column: the operating range seen."""
    lo, hi = quantiles(a, (0.02, 0.98))
    return lo, hi


def _wanders(z: np.ndarray, cfg: HealthConfig) -> tuple[np.ndarray, np.ndarray]:
    """How much wider than its spread each metric should be judged (1 for a noisy one), and
    each metric's healthy one-sample step (root median square; NaN when unknown).

    A temperature or a level moves smoothly: over ``wander_lag`` samples it moves much more
    than from one sample to the next, and a short reference underestimates how far it
    roams while healthy. Medians keep a load step in the reference from counting as roaming.
    Relative to the fastest metric: a historian's moving average makes every tag move little
    from one sample to the next, and judging them all wider blinded the asset. Not for
    noise that stops growing: a flow whose process noise wanders for a few minutes moves as
    far over ``4 * lag`` samples as over ``lag``, and a reference ten times that long has
    seen its whole range over and over; widened anyway, a leak's 20 % flow loss read one
    healthy spread (:func:`_still_roaming`).
    """
    lag = min(cfg.wander_lag, len(z) // 4)
    if lag < 2:
        return np.ones(z.shape[1]), np.full(z.shape[1], np.nan)
    d1 = np.diff(z, axis=0) ** 2
    dl = (z[lag:] - z[:-lag]) ** 2
    one = median(d1)
    one = np.where(one > 0, one, d1.mean(axis=0))
    step = np.where(one > 0, np.sqrt(one), np.nan)
    at_lag = median(dl)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(at_lag / one)
    wander = np.maximum(1.0, (ratio / cfg.wander_ratio) ** 2)
    wander = np.where(one > 0, wander, 1.0)
    if cfg.wander_relative and len(wander) > 1:
        wander = wander / np.min(wander)
    if cfg.wander_saturate:
        wander = 1.0 + (wander - 1.0) * _still_roaming(z, lag, at_lag)
    return np.asarray(np.minimum(cfg.wander_max, wander)), step


def _still_roaming(z: np.ndarray, lag: int, at_lag: np.ndarray) -> np.ndarray:
    """Per metric, from 0 (its moves stop growing between ``lag`` and ``4 * lag`` samples:
    stationary noise) to 1 (they at least double: it roams; a random walk's moves double, a
    daily cycle's grow about fourfold). 1 for every metric on a reference shorter than ten
    times ``4 * lag``, which cannot tell the two apart (SKAB's 400 rows)."""
    far = 4 * lag
    if len(z) < 10 * far:
        return np.ones(z.shape[1])
    at_far = median((z[far:] - z[:-far]) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        grow = np.sqrt(at_far / at_lag)  # sqrt(4) = 2 for a random walk, 1 for saturated noise
    return np.asarray(np.where(np.isfinite(grow), np.clip(grow - 1.0, 0.0, 1.0), 1.0))


def _precision(z: np.ndarray, cfg: HealthConfig, wt: np.ndarray | None = None) -> np.ndarray:
    pre = _decompose(z, cfg)[0]
    return pre if wt is None else pre * np.outer(wt, wt)


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
    # a direction with more variance than any one metric alone is a relation the healthy
    # machine moves along (load and what follows it, ambient and temperatures)
    k = max(k, int(np.sum(lam >= cfg.structure))) if p > 1 else 0
    w = np.ones(p)
    w[: min(k, p - 1)] = cfg.subspace_weight  # never down-weight every direction
    out: np.ndarray = (vec * (w / lam)) @ vec.T / p
    return out, vec[:, :dom]


def _limit(
    z: np.ndarray, precision: np.ndarray, cfg: HealthConfig, wt: np.ndarray
) -> tuple[float, np.ndarray]:
    """Healthy limit of the distance (fit on the first part, quantile on the rest), and
    the out-of-sample distances themselves (healthy scores as a live sample would get)."""
    n = len(z)
    cut = max(2, int(n * 0.6))
    d_in = _distances(z, precision, cfg, wt)  # the reference's own precision: in sample
    if n - cut >= 10:
        d = _distances(z[cut:], _precision(z[:cut], cfg, wt), cfg, wt)
        lim = max(
            float(quantiles(d, (cfg.quantile,))[0]), float(quantiles(d_in, (cfg.quantile,))[0])
        )
    else:
        d = d_in
        lim = float(quantiles(d_in, (cfg.quantile,))[0])
    return max(lim * cfg.limit_factor, cfg.limit_floor), d


def _chart_prec(z: np.ndarray, pre: np.ndarray, diag: np.ndarray) -> np.ndarray:
    """Inverse correlation of the residuals over the reference, shrunk (residuals of a
    two-metric relation are perfectly correlated: one signal, not two)."""
    c = (z @ pre) * np.sqrt(z.shape[1] / diag)
    p = c.shape[1]
    if p < 2 or len(c) < 3:
        return np.eye(p)
    r = np.nan_to_num(np.corrcoef(c, rowvar=False))
    np.fill_diagonal(r, 1.0)
    r = 0.7 * r + 0.3 * np.eye(p)
    return np.asarray(np.linalg.inv(r))


def _chart_sd(z: np.ndarray, pre: np.ndarray, diag: np.ndarray, cfg: HealthConfig) -> np.ndarray:
    """Healthy spread of each metric's residual chart, measured on the reference itself.

    Running the chart over the reference makes a metric whose residual is autocorrelated
    (it roams) get a proportionally wider chart; the white-noise spread is the floor. Over
    the whole reference after the chart's start-up (three time constants), not its second
    half: straight relations miss a little at each load (regression dilution, curvature),
    and a commissioning whose second half sat at one load measured a chart that never
    moved, so every other load it had seen alarmed (on four seed sets of
    bench/detectors_cases.physics_asset, 44 false episodes in 364 asset-days fell to 11).
    """
    c = (z @ pre) * np.sqrt(z.shape[1] / diag)
    a = cfg.chart_alpha
    trail = lfilter([a], [1.0, a - 1.0], c, axis=0)  # e_t = e_(t-1) + a (c_t - e_(t-1))
    tail = trail[min(len(trail) // 2, int(3 / a)) :]
    white = math.sqrt(a / (2 - a)) * np.maximum(c.std(axis=0), 1.0)
    return np.asarray(np.maximum(tail.std(axis=0) if len(tail) > 2 else white, white))


def _distances(z: np.ndarray, pre: np.ndarray, cfg: HealthConfig, wt: np.ndarray) -> np.ndarray:
    """Per-row distance: joint (Mahalanobis) or summed relation residuals."""
    if cfg.statistic == "mahalanobis":
        return np.einsum("ij,jk,ik->i", z, pre, z)
    pz = z @ pre
    return np.sum(pz * pz / _diag(pre, wt), axis=1)


def _diag(pre: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """Per-metric divisor that turns ``(P z)_j`` into a residual in its own sigmas (a
    metric's own residual is judged on its widened scale: ``wt`` is not cancelled)."""
    return np.maximum(np.diag(pre) / (wt * wt), 1e-12)


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
