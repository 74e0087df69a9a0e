"""What an anomaly event carries besides the score: contributors and the recent window.

Pure functions of the detector's state, kept apart from the streaming logic in
detectors/asset.py so each reads on its own.

>>> shares({"flow": 3.0, "temp": 1.0, "vib": -0.5})
{'flow': 0.75, 'temp': 0.25, 'vib': 0.0}
>>> safe_metric("Pressure bar"), safe_metric("3rd stage")
('Pressure_bar', 'm3rd_stage')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from detectors.reference import Reference
from forewarn.contract import Contributor

_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def safe_metric(name: str) -> str:
    """A metric name the wire contract accepts (CSV headers may hold spaces)."""
    out = _BAD.sub("_", name.strip())[:64]
    return out if out[:1].isalpha() else ("m" + out)[:64]


def shares(contrib: Mapping[str, float]) -> dict[str, float]:
    """Per-metric share of the distance from the reference, strongest first."""
    per = {k: max(0.0, v) for k, v in contrib.items()}
    total = sum(per.values()) or 1.0
    return dict(sorted(((k, v / total) for k, v in per.items()), key=lambda kv: -kv[1]))


def baseline_of(ref: Reference | None, name: str) -> float | None:
    """The metric's healthy centre in the reference (None when it has none)."""
    if ref is None or name not in ref.names:
        return None
    return float(ref.center[ref.names.index(name)])


def contributors(
    share: Mapping[str, float],
    last: Mapping[str, float],
    ref: Reference | None,
    top_k: int,
) -> list[Contributor]:
    """The ``top_k`` strongest metrics with their value now and their healthy centre."""
    return [
        Contributor(
            metric=safe_metric(name),
            weight=round(min(1.0, max(0.0, w)), 4),
            value=last.get(name),
            baseline=baseline_of(ref, name),
        )
        for name, w in list(share.items())[:top_k]
    ]


def series(
    window: Iterable[tuple[float, Mapping[str, float]]],
) -> dict[str, list[tuple[datetime, float]]]:
    """The recent samples as one time series per metric, as the event carries them."""
    out: dict[str, list[tuple[datetime, float]]] = {}
    for t, vals in window:
        stamp = datetime.fromtimestamp(t, UTC)
        for name, v in vals.items():
            out.setdefault(safe_metric(name), []).append((stamp, v))
    return out


def roughness(
    window: Sequence[tuple[float, Mapping[str, float]]], ref: Reference | None
) -> dict[str, float]:
    """How many times rougher each metric moves from one sample to the next over the recent
    window than it did while healthy: a fault rule's ``noisy`` (cavitation, looseness).
    Medians, so one load step in the window does not count.

    >>> from detectors.configuration import HealthConfig
    >>> from detectors.reference import fit_reference
    >>> ref = fit_reference([{"v": 1.0 + 0.1 * (i % 2), "q": float(i % 3)} for i in range(300)],
    ...                     HealthConfig())
    >>> rough = roughness([(i, {"v": 1.0 + 0.5 * (i % 2), "q": float(i % 3)}) for i in range(60)], ref)
    >>> round(rough["v"]), round(rough["q"])
    (5, 1)
    """
    if ref is None or ref.step is None or len(window) < 3:
        return {}
    rows = np.array([[x.get(k, np.nan) for k in ref.names] for _, x in window])
    d = np.diff(rows / ref.scale, axis=0) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        now = np.sqrt(np.nanmedian(d, axis=0))  # at events only: no need for a fast path
        ratio = now / ref.step
    return {k: float(r) for k, r in zip(ref.names, ratio, strict=True) if np.isfinite(r)}
