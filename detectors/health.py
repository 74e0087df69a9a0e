"""A frozen healthy reference per asset and a health index against it.

Why frozen: a model that keeps learning absorbs a slow fault (a half-life of a few hundred
samples swallows a degradation that unfolds over thousands). The reference
(detectors/reference.py) is learned once, over the commissioning window (the alarm warm-up),
and changes only on purpose (:meth:`HealthModel.rebaseline`).

Why relations, not levels: on a machine all sensors move together with load, speed and
ambient. Each sample is scored by how far each metric sits from what the others predict
(residuals given the others, in healthy sigmas): a load step that moves everything as it
moved in commissioning leaves the residuals small; a fault breaks a relation. Three signals,
the score is the strongest:

- the mean squared residual over the healthy limit (or one metric's alone: ``single_z``),
  smoothed by an EWMA, so one wild sample cannot alarm but a sustained departure does;
- an EWMA chart per metric residual (``chart_z`` healthy chart spreads scores 0.5): small
  persistent shifts of one relation that the mean misses;
- surprise (detectors/likelihood.py): the anomaly likelihood of the log distance against its
  own long history, for sudden changes on a stream the reference fits loosely.

Operating changes are states, not faults: an abrupt step of most metrics at once (or along
the reference's dominant directions) is held ``regime_wait`` samples and, if it settles
beyond the operating range seen (a broad step off the directions it is measured along is
beyond it), kept as a new operating point (between two kept points,
their offsets are interpolated along the load: detectors/operating.py); stops (most metrics near
zero, or a silence) hold the state and a settle period after a restart ignores transients.
The health index is ``1 - score``. Metrics constant in the reference are left out, and a
metric first seen after the reference was learned is ignored (it has no reference).
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from detectors.base import squash
from detectors.configuration import HealthConfig
from detectors.likelihood import Surprise
from detectors.operating import LoadCurve
from detectors.reference import Reference, _impute, fit_reference

_UNWIND = 10  # samples of a stop's approach taken back: the alarm latch's window (k of n)


class HealthModel:
    """Collects the commissioning window, freezes a :class:`Reference`, then scores against it.

    >>> from detectors.configuration import HealthConfig
    >>> hm = HealthModel(HealthConfig(alpha=0.2))
    >>> import math
    >>> for i in range(300):  # load steps, both sensors follow
    ...     load = (40, 60, 50, 70)[i // 75]
    ...     a, b = load + (i * 7 % 5) * 0.3, 2 * load - (i * 3 % 4) * 0.4
    ...     _ = hm.update(float(i), {"a": a, "b": b})
    >>> hm.freeze()
    >>> hm.update(300.0, {"a": 80.0, "b": 160.0}) < 0.5   # new load level, relation holds
    True
    >>> max(hm.update(301.0 + i, {"a": 50.0, "b": 150.0}) for i in range(20)) > 0.5  # broken
    True
    """

    spike = 0.0  # per-sample excess as a spike score (class default: older checkpoints)
    # the reference is still the commissioning's provisional one (set by the asset): its
    # range and directions are still being learned (see _regime_step and _broad)
    provisional = False
    stop_began = False  # this sample was the first of a stop
    # (excess, charts, score) of the last scored samples, for a stop to unwind; a class
    # default too, so a model pickled before it restores
    _past: deque[tuple[float, np.ndarray, float]] | None = None

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
        self._regs = np.zeros((1, p))  # the same points as one array, for scoring
        self.chart = np.zeros(p)
        ref = self.ref
        self._inv_diag = np.zeros(p) if ref is None else 1.0 / ref.diag
        self._sq = np.zeros(p) if ref is None else np.sqrt(p / ref.diag)
        self._inv_chart = np.zeros(p) if ref is None else 1.0 / ref.chart_sd
        a = self.cfg.chart_alpha  # a residual's healthy spread, from its chart's (white noise)
        self._rsd = np.ones(p) if ref is None else ref.chart_sd / math.sqrt(a / (2 - a))
        self._constants()
        self.surprise = 0.0
        cfg = self.cfg
        self.lik = Surprise(
            cfg.surprise_window, cfg.surprise_short, cfg.surprise_floor, cfg.surprise_learn
        )
        if self.ref is not None:
            self.lik.seed(self.ref.seed.tolist())
        self._r_prev: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self.recent: deque[np.ndarray] = deque(maxlen=5)
        self.recent_sum = np.zeros(p)
        self.slow = np.zeros(p)
        self.pending = 0
        self.pend_sum = np.zeros(p)
        self.pend_n = 0
        self.prev_sum = np.zeros(p)  # the window before pend_sum's, for _settled
        self.prev_n = 0
        self.held_n = 0
        self.pre = np.zeros(p)
        self.pre_off = np.zeros(p)  # how far the asset sat from its expected point before
        self._past = None  # states of another reference (its charts may be another size)
        self.restart = False
        if self.ref is not None and self.ref.basis.size:
            self.span = (self.ref.span[0].copy(), self.ref.span[1].copy())
        else:
            self.span = (np.zeros(0), np.zeros(0))
        self.curve: LoadCurve | None = None
        if cfg.regime_interpolate and ref is not None and ref.along is not None:
            assert ref.along_span is not None
            self.curve = LoadCurve(ref.along, *ref.along_span)

    def _constants(self) -> None:
        """Per-reference constants of the per-sample path (numpy calls on a few metrics cost
        more in overhead than in arithmetic)."""
        ref = self.ref
        p = 0 if ref is None else len(ref.names)
        self._lim = self.cfg.spike_z * self._rsd
        self._nlim = -self._lim
        self._live = np.zeros(p, bool) if ref is None else ref.level > 0
        self._near = np.zeros(p) if ref is None else self.cfg.stop_level * ref.level

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
        return self.use(fit_reference(rows, self.cfg, times))

    def use(self, ref: Reference | None) -> bool:
        """Score against ``ref`` from now on (False, and nothing changes, when it is None)."""
        if ref is None:
            return False
        self.ref = ref
        self.ewma = 0.0
        # the old reference's score with it: a hold or a stop right after a commissioning
        # re-fit returns the held score, and the latch opened on the stale one
        self.score = 0.0
        self._regime_reset()
        return True

    def is_stopped(self, x: Mapping[str, float]) -> bool:
        """Most metrics with a clearly non-zero reference level are near zero, each counted
        by its weight (``1 / wander``): a stop stops the fast, mechanical metrics, while
        temperatures coast for hours and a static head stays up. Counted alike, a pump's
        flow, power, vibration and pressure drop at zero made four of nine (its head and
        four temperatures were not), under ``stop_share``, and the stop alarmed."""
        if self.ref is None:
            return False
        return self._stopped(np.array([x.get(k, math.nan) for k in self.ref.names]))

    def _stopped(self, v: np.ndarray) -> bool:
        assert self.ref is not None
        if getattr(self, "_live", None) is None:
            self._constants()  # a model pickled before these constants existed
        live = self._live & (v == v)  # NaN != NaN: a missing value is not live
        n = np.count_nonzero(live)
        if n < 2:
            return False
        w = self.ref.weight
        near = float(w[live & (np.abs(v) < self._near)].sum())
        return bool(near >= self.cfg.stop_share * float(w[live].sum()))

    def update(
        self, t: float, x: Mapping[str, float], restarted: bool = False, extend: bool = True
    ) -> float:
        """Score one running sample against the frozen reference (collect before freezing)."""
        if self.ref is None:
            self.collect(t, x)
            return 0.0
        self.scored = False
        self.surprise = 0.0  # counts only on a sample it was computed for, never stale
        self.spike = 0.0
        ref = self.ref
        v = np.array([x.get(k, math.nan) for k in ref.names])
        stopped = self._stopped(v)
        self.stop_began = stopped and not self.stopped
        if self.stop_began:
            self._unwind()
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
        # every operating point at once: one (k x p) product, the nearest one scores
        zs = z - self._regs
        pzs = zs @ ref.precision  # the precision is symmetric
        qs = pzs * pzs * self._inv_diag  # squared residuals / p, per point and metric
        ds = qs.sum(axis=1) if cfg.statistic == "residual" else (zs * pzs).sum(axis=1)
        i = int(np.argmin(ds)) if len(ds) > 1 else 0
        d, zz, pz, q = float(ds[i]), zs[i], pzs[i], qs[i]
        if self.curve is not None and self.curve.points:  # between known operating points
            pc = pzs[0] - self.curve.offset(z)
            qc = pc * pc * self._inv_diag
            dc = float(qc.sum()) if cfg.statistic == "residual" else float(z @ pc)
            if dc < d:
                d, zz, pz, q = dc, z, pc, qc
        u = d / ref.limit
        if cfg.single_z > 0 and len(pz) > 1:  # one relation broken, diluted among many
            u = max(u, float(q.max()) * len(pz) / cfg.single_z**2)
        raw = u
        u = min(u, cfg.cap)
        self.u = u
        self._zz, self._pz = zz, pz  # the per-metric views are built only when asked for
        r = pz * self._sq  # each metric's residual in its healthy sigmas
        before, prev = self._r_prev
        self._r_prev = (prev, r)
        if self._regime_step(z, u, extend):
            return self.score  # a step to another operating point is being looked at
        if before is not None and prev is not None and len(before) == len(r) == len(prev):
            # a spike: the last sample's residual far off both its neighbours' (seen one
            # sample late), so neither a step nor an asset already off its reference spikes
            jump = np.minimum(np.abs(prev - before), np.abs(prev - r))
            self.spike = squash(float(jump.max()), cfg.spike_z)
        if cfg.surprise_z > 0 and not self.restart:  # a restart is judged after its hold
            self.surprise = squash(max(0.0, self.lik.update(raw)), cfg.surprise_z)
        self.ewma += cfg.alpha * (u - self.ewma)
        level = self.ewma
        if cfg.chart_z > 0:  # a small persistent shift of one relation (EWMA chart)
            # one wild sample (a spike, annotated on its own) moves the chart a bounded step
            clipped = np.minimum(np.maximum(r, self._nlim), self._lim)
            self.chart += cfg.chart_alpha * (clipped - self.chart)
            cz = self.chart * self._inv_chart
            worst = float(np.max(np.abs(cz)))
            level = max(level, cfg.half * worst / cfg.chart_z)
            if cfg.chart_t2 > 0:  # several relations drifting a little together (MEWMA)
                t2 = float(cz @ ref.chart_prec @ cz)
                level = max(level, cfg.half * t2 / cfg.chart_t2)
        self.score = squash(level, cfg.half) if level > 0 else 0.0
        past = self._past
        if past is None:
            past = self._past = deque(maxlen=_UNWIND)
        past.append((self.ewma, self.chart.copy(), self.score))
        return self.score

    def _unwind(self) -> None:
        """A stop began: what its approach (a coast-down over some samples, relations
        breaking as speed falls) added to the smoothed excess and the charts is part of the
        stop, not a fault; back to where they stood ``_UNWIND`` samples ago. Kept, it opened
        an alarm on the way down or, held through the stop, as soon as the restart settled."""
        past = self._past
        if past:
            self.ewma, chart, self.score = past[0]
            self.chart = chart.copy()
            past.clear()
        self.lik.reset_short()

    def _regime_step(self, z: np.ndarray, u: float, extend: bool) -> bool:
        """An abrupt step to a steady new operating point along the healthy directions is a
        new regime, not a fault: hold the score while it settles, then keep it as a regime.

        Faults develop; load changes jump. A step that is not along the directions the
        reference varies in (a relationship broke) is released to the score untouched.
        "Beyond the range seen" is judged along the healthy directions, and a broad step
        off them is beyond it by definition: a reference learned while the asset sat at one
        load (a first day at full load) has no load direction, every load step projects
        "inside", and each one alarmed (a second generator, bench/detectors_cases.
        physics_asset). While the reference is :attr:`provisional`, an aligned step is kept
        wherever it projects too: the range is still being learned.
        """
        cfg, ref = self.cfg, self.ref
        assert ref is not None
        if len(self.recent) == self.recent.maxlen:
            self.recent_sum -= self.recent[0]
        self.recent.append(z)
        self.recent_sum += z
        if self.pending:
            self.pending -= 1
            self.held_n += 1
            if self.pending < cfg.regime_learn:
                self.pend_sum += z
                self.pend_n += 1
            elif self.pending < 2 * cfg.regime_learn:
                self.prev_sum += z
                self.prev_n += 1
            if self.pending == 0:
                c = self.pend_sum / max(1, self.pend_n)
                if not self._settled(c):
                    return True
                self.lik.reset_short()
                step = c - self.pre
                # what had already left the healthy directions before the step (a developing
                # fault) stays out of the new operating point
                off = self.pre_off
                basis = ref.basis
                new = c - (off - basis @ (basis.T @ off))
                self.slow = c.copy()
                dist = min(float((new - r) @ ref.precision @ (new - r)) for r in self.regimes)
                pos = ref.basis.T @ new
                lo, hi = self.span
                beyond = not ref.basis.size or bool(
                    np.any(pos < lo - cfg.regime_inside * (hi - lo))
                    or np.any(pos > hi + cfg.regime_inside * (hi - lo))
                )
                aligned = self._along(step * ref.weight) >= cfg.regime_align
                if (
                    dist > cfg.regime_new * ref.limit
                    and len(self.regimes) < cfg.regime_max
                    and (
                        # along the healthy directions: only beyond the range seen (inside
                        # it, nothing to add), unless that range is still provisional
                        (aligned and (beyond or self.provisional))
                        # off them, broad: a direction the reference never saw the asset
                        # move in, so no range of it was seen (its projection says nothing)
                        or (not aligned and self._broad(step))
                    )
                ):
                    self.regimes.append(new)
                    self._regs = np.array(self.regimes)
                    if self.curve is not None:
                        self.curve.add(new, new @ ref.precision)
                    self.regimes_added += 1
                    if ref.basis.size:
                        self.span = (np.minimum(lo, pos), np.maximum(hi, pos))
            return True
        if cfg.regime_wait and extend and self._broad(z - self.slow):
            self._hold(z)  # most metrics jumped at once: judge it as an operating change
            return True
        if cfg.regime_wait and extend and len(self.recent) == self.recent.maxlen:
            diff = self.recent_sum / len(self.recent) - self.slow
            restart, self.restart = self.restart, False
            if restart or (
                float(diff @ diff) > cfg.regime_step**2 * len(diff)
                and self._along(diff) >= cfg.regime_align
            ):
                self._hold(z)
                return True
        self.slow += 0.02 * (z - self.slow)
        return False

    def _hold(self, z: np.ndarray) -> None:
        """Start holding a step: remember where the asset was, learn where it goes."""
        ref = self.ref
        assert ref is not None
        self.pre = self.slow.copy()
        pre = self.pre
        offs = [pre - r for r in self.regimes]
        if self.curve is not None and self.curve.points:  # or between two known points
            e = pre @ ref.precision - self.curve.offset(pre)
            with contextlib.suppress(np.linalg.LinAlgError):
                offs.append(np.linalg.solve(ref.precision, e))
        self.pre_off = min(offs, key=lambda o: float(o @ ref.precision @ o))
        self.pending = self.cfg.regime_wait
        self.pend_sum = np.zeros_like(z)
        self.pend_n = 0
        self.prev_sum = np.zeros_like(z)
        self.prev_n = 0
        self.held_n = 0

    def _settled(self, c: np.ndarray) -> bool:
        """Has the held step arrived? It is held on, ``regime_learn`` samples at a time, until
        the mean of its last window is no new operating point against the window before it,
        or ``regime_settle`` samples in all.

        Why: a temperature lags a load step by an hour or more. The point kept after
        ``regime_wait`` had it still on its way, and its charts alarmed as it went on: on the
        first day against a reference learned at one load (an alarm the commissioning then
        never learned past, open for days), and later after a step to a load the reference
        had seen least (full load)."""
        cfg, ref = self.cfg, self.ref
        assert ref is not None
        if self.held_n >= cfg.regime_settle or self.prev_n == 0:
            return True
        d = c - self.prev_sum / self.prev_n
        if float(d @ ref.precision @ d) <= cfg.regime_new * ref.limit:
            return True
        self.prev_sum, self.prev_n = self.pend_sum, self.pend_n
        self.pend_sum, self.pend_n = np.zeros_like(c), 0
        self.pending = cfg.regime_learn
        return False

    def _broad(self, v: np.ndarray) -> bool:
        """Most metrics stepped at once, as they do when load or speed changes.

        Only on assets with enough metrics to tell: on three, a leak moving flow and pressure
        together would pass for a load step. While the reference is :attr:`provisional`,
        ``regime_breadth_min`` metrics are enough, whatever the share: on the first day a
        load step that moves the mechanical metrics, before the lagging temperatures follow,
        is far likelier than a fault that breaks four relations at once. And they step at
        ``provisional_breadth_z``: a reference learned at one load has only its noise for a
        scale, and a small load step moved only three metrics past three of those."""
        cfg = self.cfg
        if self.provisional:  # no share: temperatures lag a load step, an ambient never moves
            moved = int(np.count_nonzero(np.abs(v) > cfg.provisional_breadth_z))
            return moved >= cfg.regime_breadth_min
        moved = int(np.count_nonzero(np.abs(v) > cfg.regime_breadth_z))
        return moved >= cfg.regime_breadth_min and moved >= cfg.regime_breadth * len(v)

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
