"""One asset's detector: preprocessing, the health index, the alarm latch and evidence.

The score is the health model's (detectors/health.py): the distance of each sample from a
healthy reference frozen at the end of the warm-up, smoothed, so only a sustained departure
opens an alarm. A spike (one sample's relation residual far off both its neighbours';
optionally also HalfSpaceTrees) is a separate signal that annotates an open episode and
never opens one. The reference grows over the first day (detectors/commission.py), then
changes only on purpose (repair, "no fault found", a ``detectors baseline`` request), and
each change is logged for the database.
"""

from __future__ import annotations

import math
import pickle
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from detectors import timing
from detectors.alarm import AlarmPolicy
from detectors.commission import Commissioning
from detectors.configuration import ClassConfig, OutlookConfig
from detectors.evidence import contributors, roughness, series, shares
from detectors.faults import Signature, recall, signature, suspect
from detectors.health import HealthModel
from detectors.hst import TreeScorer
from detectors.outlook import HealthOutlook, Outlook
from detectors.preprocess import Preprocessor
from detectors.reference import alarm_shift, fit_table, fit_trimmed
from detectors.trend import TrendFit
from forewarn.contract import AnomalyEvent, DetectorInfo
from forewarn.contract.models import Update

DETECTOR_NAME = "forewarn-ensemble"
DETECTOR_VERSION = "2.11.0"  # 2.11: a commissioning that ends in alarm learns the whole day
_WILD = 5.0  # per-sample excess (in healthy limits) never learned while commissioning
_NS = uuid.UUID("5b0c1f0e-7d0a-4c59-9f57-7f1f0f4f6a01")
MIN_REFERENCE_ROWS = 30  # a shorter warm-up still learns from this many running samples
_SIGNATURES_KEPT = 64  # event id -> signature, for the feedback of recent tickets
_CORRECTIONS_KEPT = 32  # signature -> fault mode an engineer found


class StateError(ValueError):
    """A checkpoint cannot be restored (corrupt, or from another detector version)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Step:
    """What one sample produced: the score, the latched alarm state and any event."""

    score: float
    alarm: bool
    event: AnomalyEvent | None = None


class AssetDetector:
    """Streaming detector for one asset's metric vector.

    >>> from detectors.configuration import load_config
    >>> det = AssetDetector("pump-1", load_config().for_class("default"))
    >>> steps = [det.update(float(t), {"flow": 30.0 + (t % 7) * 0.1}) for t in range(400)]
    >>> any(s.alarm for s in steps)
    False
    >>> steps = [det.update(400.0 + t, {"flow": 26.0}) for t in range(30)]
    >>> opened = next(s.event for s in steps if s.event)
    >>> opened.state, opened.contributors[0].metric, opened.score >= 0.5
    ('open', 'flow', True)
    """

    # Class-level defaults as well, so a checkpoint pickled before these existed restores;
    # the mappings are replaced, never mutated, so the shared empty defaults stay empty.
    episode: str | None = None
    revision = 0
    commission: Commissioning | None = None
    corrections: Mapping[Signature, str] = MappingProxyType({})
    signatures: Mapping[str, tuple[str, Signature]] = MappingProxyType({})  # event: episode, sig
    outlook: HealthOutlook | None = None  # made on the first scored sample of an old pickle
    # the sampling interval, once measured (detectors/timing.py); an old pickle counts as timed
    interval: float | None = None
    _first: list[float] | None = None

    def __init__(
        self,
        asset: str,
        config: ClassConfig,
        *,
        site: str = "default",
        asset_class: str | None = None,
    ) -> None:
        self.asset = asset
        self.site = site
        self.asset_class = asset_class
        self.cfg = config
        self.info = DetectorInfo(
            name=DETECTOR_NAME, version=DETECTOR_VERSION, config_hash=config.config_hash()
        )
        self.pre = Preprocessor(config)
        self.health = HealthModel(config.health)
        self.trees = TreeScorer(config.hst) if config.hst.enabled else None
        self.spike = 0.0
        self.spikes = 0
        self.relearn: dict[str, Any] | None = None
        self.relearn_rows: list[tuple[float, dict[str, float]]] = []
        self.baseline_log: list[dict[str, Any]] = []  # reference changes not yet recorded
        self.trend = TrendFit(config.trend, config.metrics)
        self.outlook = HealthOutlook(config.outlook)
        self.alarm = AlarmPolicy(config.alarm)
        self.window: deque[tuple[float, dict[str, float]]] = deque(maxlen=config.window)
        self.roles: dict[str, str | None] = {}
        self.features: list[str] = []
        self.score = 0.0
        self.severity: Literal["warning", "critical"] | None = None
        self.fault_mode: str | None = None
        self.samples = 0
        self._freeze_at = max(config.alarm.warmup, MIN_REFERENCE_ROWS)
        self.commission: Commissioning | None = Commissioning(config.health, self._freeze_at)
        self._first = []

    # -- streaming -----------------------------------------------------------------------
    def update(
        self, ts: datetime | float, values: Mapping[str, object], *, historical: bool = False
    ) -> Step:
        """Score one sample against the frozen reference; returns score and latched alarm."""
        t = ts.timestamp() if isinstance(ts, datetime) else float(ts)
        x = self.pre.clean(t, values)
        if x is None or not self.pre.running:
            return Step(0.0 if x is not None else self.score, self.alarm.active)
        restarted = self.pre.gap
        for name in x:
            if name not in self.roles:
                self.roles[name] = self.cfg.role_of(name)
                self.features.append(name)
        self.window.append((t, x))
        if self._first is not None:
            self._time(t)
        hm = self.health
        if self.relearn is not None:  # a repair or "no fault found": learn the reference anew
            return self._relearn(t, x)
        if not hm.frozen:
            self.samples += 1
            hm.collect(t, x)
            if self.samples % self._freeze_at == 0:  # retried while nothing varies
                rows, times = hm.train, hm.train_t
                hm.freeze()
                if hm.frozen:
                    if self.commission is not None:
                        self.commission.start(rows, times)
                    self._log_baseline(t, "commissioning", "detector", hm)
            self.trend.update(t, x)
            self.alarm.update(0.0)
            return Step(0.0, False)
        com = self.commission
        hm.provisional = com is not None and com.active
        score = hm.update(t, x, restarted, extend=not self.alarm.active)
        if not hm.scored:
            if hm.stop_began:  # the approach to it counts for nothing either (health._unwind)
                self.alarm.recent.clear()
            return Step(score, self.alarm.active)  # a stop is a state: nothing learns or alarms
        self.samples += 1
        self.spike = hm.spike
        trees = self.trees
        if trees is not None:
            if (trees.n + 1) % trees.cfg.every:
                trees.n += 1  # the trees run on every n-th sample only: skip the features too
            else:
                sq = self.cfg.hst.squash
                feats = {k: 0.5 + 0.5 * math.tanh(z / sq) for k, z in hm.z.items()}
                tree = trees.update_one(feats, 0.0 if self.alarm.active else 1.0)
                self.spike = max(self.spike, tree)
        self.trend.update(t, x)
        # a sudden surprise (anomaly likelihood) alarms as a sustained departure does
        score = max(score, hm.surprise)
        self.score = score
        ol = self.outlook
        if ol is None:
            ol = self.outlook = HealthOutlook(getattr(self.cfg, "outlook", None) or OutlookConfig())
        ol.update(t, score)  # the health index's trend: only scored samples of this reference
        transition = self.alarm.update(score)
        if com is not None and com.active:
            self._commission(t, x, com)
        event = None
        if transition is not None:
            self.spikes = 0
            event = self._event(t, transition, historical)
        elif self.alarm.active:
            event = self._news(t, historical)
        return Step(score, self.alarm.active, event)

    def _time(self, t: float) -> None:
        """Measure the sampling interval over the first samples; on coarser data than the
        counts were set for, shorten them to the same time (detectors/timing.py). Nothing has
        been learned yet: the rows collected so far are kept, the alarm's warm-up count too."""
        first = self._first
        assert first is not None
        first.append(t)
        if len(first) <= timing.SAMPLES:
            return
        self._first = None
        self.interval = timing.interval(first)
        if self.interval is None or self.health.frozen:
            return
        cfg = timing.retimed(self.cfg, self.interval)
        if cfg is self.cfg:
            return
        self.cfg = cfg
        hm = HealthModel(cfg.health)
        hm.train, hm.train_t = self.health.train, self.health.train_t
        self.health = hm
        seen = self.alarm.seen
        self.alarm = AlarmPolicy(cfg.alarm)
        self.alarm.seen = seen
        self._freeze_at = max(cfg.alarm.warmup, MIN_REFERENCE_ROWS)
        if self.commission is not None:
            self.commission = Commissioning(cfg.health, self._freeze_at)
        self.pre.cfg = cfg

    def _news(self, t: float, historical: bool) -> AnomalyEvent | None:
        """An update of the open episode for its ticket (same episode id, never a new one):
        its first spike, an escalation to critical or a revised fault mode (both looked at
        every 10th sample)."""
        spiked = self.spike >= self.cfg.alarm.on_threshold
        self.spikes += spiked
        news: list[Update] = ["spike"] if spiked and self.spikes == 1 else []
        if news or self.samples % 10 == 0:
            if self.severity != "critical" and self._severity() == "critical":
                news.append("escalation")
                self.severity = "critical"  # within an episode severity only rises
            mode = self._suspect()
            if mode not in (None, self.fault_mode):  # a vaguer moment does not un-name it
                news.append("fault_mode")
                self.fault_mode = mode
        return self._event(t, "update", historical, news) if news else None

    def feedback(
        self,
        resolution: str,
        who: str = "ticketing feedback",
        *,
        guessed: str | None = None,
        found: str | None = None,
        events: Sequence[str] = (),
    ) -> int:
        """A ticket resolution for this asset: ``confirmed``, ``fixed`` or ``no_fault_found``.

        ``fixed`` (a repair) re-learns the reference after the settle time; ``no_fault_found``
        re-learns it at once (what alarmed was healthy) and raises the bar a step. When the
        engineer ``found`` another fault mode than the ticket's (``guessed``), the signatures
        of the ticket's ``events`` are remembered with it; returns how many were.
        """
        corrected = self.correct(guessed, found, events)
        self.alarm.feedback(resolution)
        if resolution == "fixed":
            self.schedule_relearn(self.cfg.health.repair_settle, f"repair ({who})", who)
        elif resolution == "no_fault_found":
            self.schedule_relearn(0, f"no fault found ({who})", who)
        return corrected

    def correct(self, guessed: str | None, found: str | None, events: Sequence[str]) -> int:
        """Remember ``found`` for the direction signatures of these events (ours, recent)."""
        if not found or found == guessed:
            return 0
        known = [self.signatures[e] for e in events if e in self.signatures]
        sigs = {sig for _, sig in known} - {frozenset()}
        if not sigs:
            return 0
        kept = [(s, m) for s, m in self.corrections.items() if s not in sigs]
        kept += [(s, found) for s in sorted(sigs, key=sorted)]
        self.corrections = dict(kept[-_CORRECTIONS_KEPT:])
        if self.episode in {ep for ep, _ in known}:
            self.fault_mode = found  # the episode goes on under the name the engineer found
        return len(sigs)

    def schedule_relearn(self, settle: int, why: str, who: str) -> None:
        """Learn a new reference from the next commissioning-length window, after ``settle``."""
        self.relearn = {"settle": settle, "why": why, "who": who, "rows": 0}
        self.commission = None  # a reference chosen on purpose ends the commissioning
        self.relearn_rows = []
        self._reset_alarm()  # the ticket is resolved: this episode is over

    def rebaseline(self, rows: list[tuple[float, dict[str, float]]], why: str, who: str) -> bool:
        """Replace the reference with one learned from stored rows (``detectors baseline``)."""
        ok = self.health.rebaseline([r for _, r in rows], [t for t, _ in rows])
        if ok:
            self.commission = None
            self._reset_alarm()
            self._log_baseline(rows[-1][0], why, who, self.health)
        return ok

    def _commission(self, t: float, x: dict[str, float], com: Commissioning) -> None:
        """Grow the provisional reference on rows scored while no alarm is open, held load
        steps included (the relations across loads are what it lacks). Wild rows (beyond
        ``_WILD`` healthy limits) stay out even before the latch opens: three of them would
        be a dominant "healthy" direction of the next reference.

        A day that ends in alarm is learned whole (the alarm's rows too, wild ones trimmed)
        unless, under that fit, some relation's residual sits ``commission_shift`` sigmas
        apart between the rows that alarmed and the rest: a first afternoon cooler than the
        warm-up's (oil temperature lagging ambient and load) once kept its provisional
        reference, and alarmed, for good; a fault from the first day shifts a relation and
        stays in alarm."""
        hm = self.health
        healthy = not self.alarm.active and hm.u <= _WILD
        go = com.offer(t, x, healthy=healthy)
        ref = None
        if go and com.whole and self.alarm.active:  # did the day's rows explain the alarm?
            day = com.table()
            ref = fit_trimmed(com.names, day, hm.cfg, com.stamps(), _WILD)
            ok = com.ok[: com.m]
            shift = None if ref is None else alarm_shift(ref, com.names, day, ok, hm.cfg)
            if shift is None or shift > hm.cfg.commission_shift:
                ref = None  # a relation moved when it opened: a fault, never learned
        elif go and not com.whole:  # (a wild last row, no alarm: the reference it has)
            ref = fit_table(com.names, com.table(), hm.cfg, com.stamps())
        if hm.use(ref):  # an open alarm then clears as any does: its ticket hears of it
            why = f"commissioning, {com.m if com.whole else com.n} rows"
            self._log_baseline(t, why + (", the alarm's too" if com.whole else ""), "detector", hm)
            if self.outlook is not None:
                self.outlook.reset()  # the index is measured against the grown reference
        if not com.active:
            com.release()

    def _relearn(self, t: float, x: dict[str, float]) -> Step:
        assert self.relearn is not None
        job = self.relearn
        if job["settle"] > 0:
            job["settle"] -= 1
        else:
            self.relearn_rows.append((t, x))
        if len(self.relearn_rows) >= self._freeze_at:
            rows = self.relearn_rows
            self.relearn, self.relearn_rows = None, []
            if self.health.rebaseline([r for _, r in rows], [tt for tt, _ in rows]):
                self._log_baseline(t, job["why"], job["who"], self.health)
            self._reset_alarm()
        self.score = 0.0
        return Step(0.0, self.alarm.active)

    def _reset_alarm(self) -> None:
        """The ticket was resolved: the latch re-arms against the new reference."""
        self.alarm.active = False
        self.alarm.recent.clear()
        self.alarm.below = 0
        self.alarm.since_clear = self.alarm.cfg.cooldown + 1
        self.health.ewma = 0.0
        self.health.chart = np.zeros_like(self.health.chart)
        self.health.score = 0.0
        if self.outlook is not None:
            self.outlook.reset()  # the index is measured against a new reference from now on

    def _log_baseline(self, t: float, why: str, who: str, hm: HealthModel) -> None:
        ref = hm.ref
        self.baseline_log.append(
            {
                "changed_at": t,
                "reason": why,
                "actor": who,
                "rows": 0 if ref is None else ref.rows,
                "ref_from": None if ref is None else ref.t_from,
                "ref_to": None if ref is None else ref.t_to,
                "metrics": [] if ref is None else list(ref.names),
            }
        )

    # -- evidence ------------------------------------------------------------------------
    def _severity(self) -> Literal["warning", "critical"]:
        a = self.cfg.alarm
        ttl = self.trend.min_time_to_limit()
        if self.score >= a.critical_score or (ttl is not None and ttl[1] <= a.critical_ttl_h):
            return "critical"
        return "warning"

    def contributions(self) -> dict[str, float]:
        """Per-metric share of the current distance from the reference, strongest first."""
        return shares(self.health.contrib)

    def _suspect(self) -> str | None:
        # the direction of each metric that carries the departure, against the frozen
        # reference; metrics that contribute little do not sign a fault. An engineer's
        # correction for this signature comes before the rules.
        z = self.health.z
        found = recall(self.corrections, z)
        if found is not None:
            return found
        noisy = any("noisy" in rule.values() for rule in self.cfg.faults.values())
        rough = roughness(self.window, self.health.ref) if noisy else {}
        return suspect(self.cfg.faults, self.roles, z, rough)

    def _event(
        self, t: float, transition: str, historical: bool, news: Sequence[Update] = ()
    ) -> AnomalyEvent:
        """The event of an episode's opening (``open``), an ``update`` or its ``cleared``."""
        ts = datetime.fromtimestamp(t, UTC)
        state: Literal["open", "cleared"] = "cleared" if transition == "cleared" else "open"
        if transition == "open" or self.episode is None:
            self.episode = str(uuid.uuid5(_NS, f"{self.site}/{self.asset}/{t:.3f}/episode"))
            self.revision = 0
        else:
            self.revision += 1
        if transition == "open":
            self.severity = self._severity()
            self.fault_mode = self._suspect()
        elif state == "cleared":
            self.severity = self.fault_mode = None
        top = contributors(
            self.contributions(), self.window[-1][1], self.health.ref, self.cfg.top_k
        )
        ttl = self.trend.min_time_to_limit()
        outlook = self.outlook_now()
        key = f"{self.site}/{self.asset}/{t:.3f}/{state}/{self.severity}/{self.fault_mode}"
        event_id = str(uuid.uuid5(_NS, key))
        episode = self.episode
        assert episode is not None
        if state == "cleared":
            self.episode = None
        else:
            sigs = {**self.signatures, event_id: (episode, signature(self.health.z))}
            self.signatures = dict(list(sigs.items())[-_SIGNATURES_KEPT:])
        return AnomalyEvent(
            event_id=event_id,
            site=self.site,
            asset=self.asset,
            asset_class=self.asset_class,
            ts=ts,
            detector=self.info,
            score=round(min(1.0, max(0.0, self.score)), 6),
            severity=self.severity or "info",
            fault_mode=self.fault_mode,
            contributors=top,
            window=series(self.window),
            time_to_limit_h=None if ttl is None else round(ttl[1], 3),
            health=outlook.health,
            time_to_threshold_h=outlook.time_to_threshold_h,
            historical=historical,
            state=state,
            episode=episode,
            revision=self.revision,
            update=list(news) or None,
        )

    def outlook_now(self) -> Outlook:
        """Health index, its trend per day and hours to the alarm bar (the bar as raised by
        "no fault found"); all None while there is no reference to measure against."""
        ol = self.outlook
        if ol is None or not self.health.frozen or self.relearn is not None:
            return Outlook()
        return ol.outlook(1.0 - self.alarm.on_threshold)

    # -- checkpoints ---------------------------------------------------------------------
    def dumps(self) -> bytes:
        """The whole state as bytes; :meth:`loads` resumes with identical behaviour."""
        return pickle.dumps((DETECTOR_VERSION, self), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def loads(cls, blob: bytes) -> AssetDetector:
        """Restore a checkpoint (trusted input only: it is a pickle from our own database)."""
        try:
            version, det = pickle.loads(blob)
        except Exception as exc:
            raise StateError(f"corrupt detector checkpoint: {exc}") from None
        if version != DETECTOR_VERSION or not isinstance(det, cls):
            raise StateError(f"checkpoint from detector {version!r}, this is {DETECTOR_VERSION}")
        return det
