"""The health index's configuration (detectors/health.py, reference.py, operating.py).

Its own module because it is most of the detector's tuning surface: the reference, the
scoring signals, operating points and stops. ``detectors.configuration`` re-exports it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors._frozen import Frozen as _Cfg


class HealthConfig(_Cfg):
    """The frozen-reference multivariate health index (detectors/health.py)."""

    shrink: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="correlation shrinkage to I (ridge): near-duplicate sensors (phase "
        "currents, power) must not predict each other with huge weights",
    )
    eig_floor: float = Field(default=0.001, gt=0, description="smallest eigenvalue kept")
    subspace: float = Field(
        default=0.8, gt=0, le=1, description="variance share of the dominant healthy directions"
    )
    dominant: float = Field(
        default=0.3, gt=0, le=1, description="variance share that makes a direction dominant"
    )
    statistic: Literal["residual", "mahalanobis"] = Field(
        default="residual",
        description="residual: each metric against what the others predict (a relation "
        "broke); mahalanobis: the joint distance (also moving along known relations)",
    )
    structure: float = Field(
        default=1.5,
        gt=1,
        description="a direction whose variance exceeds this many metrics' worth is a healthy "
        "relation (its distance counts subspace_weight)",
    )
    subspace_weight: float = Field(
        default=0.25, ge=0, le=1, description="weight of distance along those directions"
    )
    quantile: float = Field(default=0.5, ge=0.5, lt=1, description="healthy limit quantile")
    limit_factor: float = Field(default=4.0, gt=0, description="healthy limit = factor x quantile")
    limit_floor: float = Field(
        default=2.0, gt=0, description="lowest healthy limit (mean squared residual, sigmas)"
    )
    clip: float = Field(default=50.0, gt=0, description="|z| clip per metric")
    cap: float = Field(default=10.0, gt=0, description="clip of the per-sample excess")
    alpha: float = Field(default=0.05, gt=0, le=1, description="EWMA of the excess")
    half: float = Field(default=1.5, gt=0, description="smoothed excess scoring 0.5")
    max_rows: int = Field(default=20_000, ge=10, description="reference rows kept")
    min_std_rel: float = Field(default=1e-3, ge=0)
    min_std_abs: float = Field(default=1e-6, gt=0)
    stop_level: float = Field(
        default=0.1, gt=0, lt=1, description="near zero: below this share of the ref level"
    )
    stop_share: float = Field(
        default=0.5, gt=0, le=1, description="share of metrics near zero that means stopped"
    )
    settle: int = Field(default=60, ge=0, description="samples ignored after a stop/restart")
    regime_step: float = Field(
        default=0.7, gt=0, description="abrupt step (RMS z over metrics) that may be a regime"
    )
    regime_wait: int = Field(
        default=120, ge=0, description="samples a step is held before judging it (0: never)"
    )
    regime_learn: int = Field(default=60, ge=1, description="last held samples that define it")
    regime_settle: int = Field(
        default=240,
        ge=0,
        description="a held step is held on (up to this many samples in all) until its last "
        "two regime_learn windows agree: lagging temperatures still moving are not yet the "
        "new operating point (at most regime_wait: never)",
    )
    regime_align: float = Field(
        default=0.5, ge=0, le=1, description="share of the step along the healthy directions"
    )
    regime_new: float = Field(
        default=0.1, ge=0, description="a step's point this far (in limits) from known ones is new"
    )
    commission_rows: int = Field(
        default=1440,
        ge=0,
        description="the provisional reference grows on healthy rows up to this many "
        "(detectors/commission.py); at or below the warm-up: exactly the warm-up's rows",
    )
    commission_h: float = Field(
        default=24.0, gt=0, description="... or until it spans this many hours (a daily cycle)"
    )
    commission_grow: float = Field(
        default=0.1,
        gt=0,
        description="re-learn the growing reference when its rows grew by this share",
    )
    commission_shift: float = Field(
        default=2.0,
        gt=0,
        description="a commissioning that ends in alarm learns the whole day unless a "
        "relation's residual sits this many sigmas apart between the rows that alarmed and "
        "the rest (a fault from the first day)",
    )
    repair_settle: int = Field(
        default=360, ge=0, description="samples after a repair before the reference re-learns"
    )
    regime_inside: float = Field(
        default=0.0,
        ge=-1,
        le=1,
        description="margin (share of the range) beyond which a step "
        "point counts as outside the seen operating range; -0.5 admits every point",
    )
    regime_max: int = Field(default=24, ge=1, description="operating points kept per asset")
    regime_interpolate: bool = Field(
        default=True,
        description="between two known operating points, judge a metric against what they "
        "read, interpolated along the load (relations that are not straight lines)",
    )
    regime_breadth: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="share of metrics stepping together that makes a step an operating change "
        "(a load step moves most sensors at once; a fault few)",
    )
    regime_breadth_min: int = Field(
        default=4, ge=1, description="...and at least this many metrics stepping together"
    )
    regime_breadth_z: float = Field(
        default=3.0, gt=0, description="a metric 'steps' when it jumps this many sigmas"
    )
    provisional_breadth_z: float = Field(
        default=2.0,
        gt=0,
        description="... while the reference is still provisional (its sigmas are a single "
        "load's noise)",
    )
    wander_lag: int = Field(default=30, ge=2, description="samples over which roaming is seen")
    wander_ratio: float = Field(
        default=1.5,
        gt=0,
        description="a metric moving more than this many times further over wander_lag "
        "samples than from one sample to the next roams slowly (temperatures): it is judged "
        "on a proportionally wider scale",
    )
    wander_max: float = Field(default=10.0, ge=1, description="widest scale for such a metric")
    wander_relative: bool = Field(
        default=True,
        description="roaming is judged against the asset's fastest metric (a historian that "
        "smooths every tag makes every tag look slow)",
    )
    wander_saturate: bool = Field(
        default=True,
        description="a metric whose moves stop growing between wander_lag and 4 x wander_lag "
        "samples is noise, not roaming, once the reference is ten times that long (a leak on "
        "a flow with wandering process noise was judged on twice its spread)",
    )
    chart_alpha: float = Field(default=0.05, gt=0, le=1, description="EWMA of each residual")
    chart_z: float = Field(
        default=12.0,
        ge=0,
        description="an EWMA residual chart this many of its healthy spreads out scores 0.5 "
        "(0 = off): small persistent shifts that the joint distance misses",
    )
    chart_t2: float = Field(
        default=130.0,
        ge=0,
        description="T2 of all residual charts together (in healthy chart spreads, against "
        "the residuals' correlation in the reference) that scores 0.5 (0 = off): several "
        "relations drifting a little at once, as a slow leak or fouling does",
    )
    surprise_z: float = Field(
        default=3.5,
        ge=0,
        description="anomaly likelihood: a short mean of the log excess this many spreads above "
        "its long window scores 0.5 (0 = off)",
    )
    surprise_window: int = Field(default=4000, ge=20, description="long window, samples")
    surprise_short: int = Field(default=3, ge=1, description="short mean, samples")
    surprise_learn: int = Field(
        default=200, ge=2, description="history (reference rows included) before it may fire"
    )
    surprise_floor: float = Field(default=0.2, gt=0, description="smallest spread of the log")
    single_z: float = Field(
        default=3.5,
        ge=0,
        description="one metric off its healthy relation to the others by this many sigmas "
        "counts as the healthy limit on its own (0 = only the joint distance)",
    )
    spike_z: float = Field(
        default=10.0,
        gt=0,
        description="one sample's residual this many healthy sigmas off its recent level "
        "scores 0.5 as a spike (annotates an open episode, never opens one)",
    )
