"""Routing: score every engineer for a ticket and say, in words, why the winner won.

Score = skill (asset class +40, fault mode +30, certification +5) + place (home distance up
to +20, falling to 0 at ``scale_km``; zone covers the site +10) - 5 per open ticket + shift
(on shift +15, on call +5). Unavailable, overloaded, unskilled or off-shift-and-not-on-call
engineers are excluded with the reason. Ties: lower load, then shorter distance, then id.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, time
from typing import Any

W_CLASS, W_FAULT, W_CERT, W_DIST, W_ZONE, W_LOAD, W_SHIFT, W_ONCALL = 40, 30, 5, 20, 10, 5, 15, 5


@dataclass
class Candidate:
    engineer_id: int
    name: str
    score: float = 0.0
    load: int = 0
    distance_km: float | None = None
    parts: list[tuple[str, float]] = field(default_factory=list)
    excluded: str | None = None

    def add(self, why: str, points: float) -> None:
        self.parts.append((why, round(points, 2)))
        self.score = round(self.score + points, 2)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["parts"] = [{"why": w, "points": p} for w, p in self.parts]
        return d


@dataclass(frozen=True)
class Job:
    """What routing needs to know of a ticket."""

    site: str
    asset_class: str | None
    fault_mode: str | None
    lat: float | None
    lon: float | None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _hhmm(value: str) -> time:
    if value == "24:00":
        return time(23, 59, 59, 999_999)
    h, m = value.split(":")
    return time(int(h), int(m))


def on_shift(shifts: list[dict[str, Any]], now: datetime) -> bool:
    """Whether ``now`` (UTC) falls in one of the shifts; overnight shifts wrap midnight."""
    t, day = now.time(), now.weekday()
    for s in shifts:
        start, end = _hhmm(s["start"]), _hhmm(s["end"])
        days = s.get("days", [])
        if start <= end:
            if day in days and start <= t < end:
                return True
        elif (day in days and t >= start) or ((day - 1) % 7 in days and t < end):
            return True
    return False


def score(
    job: Job,
    engineers: list[dict[str, Any]],
    loads: dict[int, int],
    now: datetime,
    *,
    scale_km: float = 100.0,
    exclude: frozenset[int] = frozenset(),
) -> list[Candidate]:
    """Every engineer scored (excluded ones last), best first, ties broken deterministically."""
    out = []
    for e in engineers:
        c = Candidate(int(e["id"]), e["name"], load=loads.get(int(e["id"]), 0))
        out.append(c)
        if c.engineer_id in exclude:
            c.excluded = "already had it (escalation)"
            continue
        if not e["available"]:
            c.excluded = "unavailable"
            continue
        if c.load >= e["max_load"]:
            c.excluded = f"at max load ({c.load}/{e['max_load']})"
            continue
        if job.asset_class:
            if job.asset_class in e["asset_classes"]:
                c.add(f"asset class {job.asset_class}", W_CLASS)
            else:
                c.excluded = f"no skill for {job.asset_class}"
                continue
        if job.fault_mode and job.fault_mode in e["fault_modes"]:
            c.add(f"fault mode {job.fault_mode}", W_FAULT)
        certs = set(e["certifications"])
        if certs & {job.asset_class, job.fault_mode}:
            c.add("certified", W_CERT)
        if None not in (job.lat, job.lon, e["home_lat"], e["home_lon"]):
            c.distance_km = round(
                haversine_km(job.lat, job.lon, e["home_lat"], e["home_lon"]),  # type: ignore[arg-type]
                1,
            )
            c.add(f"{c.distance_km} km from home", W_DIST * max(0.0, 1 - c.distance_km / scale_km))
        if job.site in e["zones"]:
            c.add(f"zone covers {job.site}", W_ZONE)
        if c.load:
            c.add(f"{c.load} open ticket(s)", -W_LOAD * c.load)
        if on_shift(e["shifts"], now):
            c.add("on shift", W_SHIFT)
        elif e["on_call"]:
            c.add("on call", W_ONCALL)
        else:
            c.excluded = "off shift and not on call"
    out.sort(key=sort_key)
    return out


def sort_key(c: Candidate) -> tuple[Any, ...]:
    dist = c.distance_km if c.distance_km is not None else math.inf
    return (c.excluded is not None, -c.score, c.load, dist, c.engineer_id)


def _parts(c: Candidate) -> str:
    return ", ".join(f"{w} {p:+g}" for w, p in c.parts) or "no criteria"


def explain(ranked: list[Candidate]) -> str:
    """A sentence a dispatcher can check: winner, the points, runner-up, exclusions."""
    eligible = [c for c in ranked if c.excluded is None]
    excluded = [c for c in ranked if c.excluded is not None]
    unskilled = [c for c in excluded if (c.excluded or "").startswith("no skill")]
    named = [c for c in excluded if c not in unskilled]
    ex = "; ".join(f"{c.name} ({c.excluded})" for c in named[:10])
    if len(named) > 10:
        ex += f"; {len(named) - 10} more"
    if unskilled:
        ex += ("; " if ex else "") + f"{len(unskilled)} without the skill ({unskilled[0].excluded})"
    if not eligible:
        return "No eligible engineer" + (f": {ex}." if ex else " (none registered).")
    best = eligible[0]
    text = f"Chose {best.name} (#{best.engineer_id}) with score {best.score:g}: {_parts(best)}."
    if len(eligible) > 1:
        second = eligible[1]
        text += (
            f" Runner-up {second.name} (#{second.engineer_id}) {second.score:g}: {_parts(second)}."
        )
        if second.score == best.score:
            text += " Tie broken by lower load, then shorter distance, then lower id."
    if ex:
        text += f" Excluded: {ex}."
    return text
