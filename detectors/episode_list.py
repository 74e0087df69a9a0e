"""The alarm episodes of a replay, one row each: what a reliability engineer reads first.

Why: a replay's summary says how many episodes opened, not which metrics opened them nor
what the ticket would have said. Each row is the episode as the ticketing service would have
seen it: when it opened and cleared, its severity and suspected fault mode as they ended
(an escalation or a revised guess is an update of the same episode), and the metrics that
contributed most when it opened, each with its share, its value and its healthy centre.

>>> from datetime import UTC, datetime
>>> from forewarn.contract import AnomalyEvent, Contributor, DetectorInfo
>>> info = DetectorInfo(name="d", version="1", config_hash="h")
>>> def ev(minute, state, **kw):
...     ts = datetime(2026, 5, 4, 0, minute, tzinfo=UTC)
...     return AnomalyEvent(event_id=f"e{minute}", site="s", asset="a", ts=ts, detector=info,
...                         score=0.9, severity=kw.pop("severity", "warning"), state=state,
...                         episode="ep1", **kw)
>>> top = [Contributor(metric="flow", weight=0.8, value=41.0, baseline=50.0)]
>>> rows = episode_rows([ev(1, "open", contributors=top, fault_mode="seal_leak"),
...                      ev(5, "open", severity="critical", update=["escalation"]),
...                      ev(9, "cleared", severity="info")])
>>> r = rows[0]
>>> r.opened.minute, r.cleared.minute, r.severity, r.fault_mode, r.revisions
(1, 9, 'critical', 'seal_leak', 1)
>>> r.metrics
'flow 80%: 41 (centre 50)'
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.table import Table

from forewarn.contract import AnomalyEvent, Contributor


@dataclass
class EpisodeRow:
    episode: str
    opened: datetime
    cleared: datetime | None  # None: still open at the end of the replay
    severity: str
    fault_mode: str | None
    score: float  # at the opening
    revisions: int  # updates after the opening (escalations, renames, spikes)
    contributors: list[Contributor]
    unit: str = ""  # the machine, in a file of several
    stamp: str = ""  # the opening row's time as the file wrote it (a cycle, a date)
    first: int | None = None  # row of the opening, and of the clearing
    last: int | None = None

    @property
    def hours(self) -> float | None:
        return None if self.cleared is None else (self.cleared - self.opened).total_seconds() / 3600

    @property
    def rows(self) -> int | None:
        """How many rows it stayed open: the length that means something when the file
        counts cycles instead of time."""
        if self.first is None or self.last is None:
            return None
        return self.last - self.first

    @property
    def metrics(self) -> str:
        return ", ".join(_metric(c) for c in self.contributors)


def _metric(c: Contributor) -> str:
    """Its share of the departure, its value and the reference's healthy centre (the mean
    over the reference, not what the load now predicts: the share says how far off that is)."""
    head = f"{c.metric} {c.weight:.0%}"
    if c.value is None:
        return head
    if c.baseline is None:
        return f"{head}: {c.value:.4g}"
    return f"{head}: {c.value:.4g} (centre {c.baseline:.4g})"


def episode_rows(
    events: Sequence[AnomalyEvent],
    at: Sequence[int] | None = None,
    stamps: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
) -> list[EpisodeRow]:
    """One row per episode, in the order they opened. ``at`` is the row of each event (as
    :class:`detectors.replay.Result` keeps it); with it, the file's own ``stamps`` and
    ``units`` name each episode's opening as the file does."""
    rows: dict[str, EpisodeRow] = {}
    for n, e in enumerate(events):
        key = e.episode or e.event_id
        row = rows.get(key)
        i = None if at is None else at[n]
        if row is None:
            rows[key] = row = EpisodeRow(
                key, e.ts, None, e.severity, e.fault_mode, e.score, 0, list(e.contributors)
            )
            row.first = i
            if i is not None:
                row.stamp = "" if stamps is None else stamps[i]
                row.unit = "" if units is None else units[i]
            continue
        if e.state == "cleared":
            row.cleared, row.last = e.ts, i
            continue
        row.revisions += 1
        row.severity = e.severity  # within an episode it only rises (detectors/asset.py)
        row.fault_mode = e.fault_mode or row.fault_mode  # a vaguer moment does not un-name it
    return list(rows.values())


def episode_table(rows: Sequence[EpisodeRow], limit: int = 20, clock: bool = True) -> Table:
    """The first ``limit`` episodes as a table (the rest are counted in its caption); a
    column for the unit when a file holds several. On a clock, when it opened and how many
    hours it stayed open; on a cycle or row counter, the file's own count and rows."""
    table = Table(title=f"alarm episodes ({len(rows)})", show_header=True)
    units = any(r.unit for r in rows)
    span = "hours" if clock else "rows"
    for col in ["unit"] * units + [
        "opened",
        span,
        "severity",
        "fault mode",
        "metrics when it opened",
    ]:
        table.add_column(col, justify="right" if col == span else "left")
    for r in rows[:limit]:
        length = r.hours if clock else r.rows
        cells = [r.unit] * units + [
            r.opened.strftime("%Y-%m-%d %H:%M") if clock or not r.stamp else r.stamp,
            "open at end" if length is None else (f"{length:.1f}" if clock else str(length)),
        ]
        table.add_row(*cells, r.severity, r.fault_mode or "-", r.metrics)
    if len(rows) > limit:
        table.caption = f"{len(rows) - limit} more: --episodes FILE writes them all"
    return table


def write_episodes(path: Path, rows: Sequence[EpisodeRow]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["episode", "unit", "opened", "stamp", "cleared", "hours", "opened_row", "rows",
                    "severity", "fault_mode", "score_at_open", "revisions", "metrics"])  # fmt: skip
        for r in rows:
            w.writerow([
                r.episode, r.unit, r.opened.isoformat(), r.stamp,
                "" if r.cleared is None else r.cleared.isoformat(),
                "" if r.hours is None else f"{r.hours:.3f}", "" if r.first is None else r.first,
                "" if r.rows is None else r.rows, r.severity, r.fault_mode or "",
                f"{r.score:.3f}", r.revisions, r.metrics,
            ])  # fmt: skip


__all__ = ["EpisodeRow", "episode_rows", "episode_table", "write_episodes"]
