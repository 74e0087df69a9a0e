"""Charts drawn server-side as inline SVG: no JavaScript library, nothing to download,
and the page is complete (and testable) as soon as it is served."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

Point = tuple[datetime, float]
HEALTH_COLOURS = {"critical": "#c62828", "warning": "#ef8f00", "ok": "#2e7d32", "unknown": "#888"}


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _points(points: Sequence[Point], fx: Any, fy: Any) -> str:
    return " ".join(f"{fx(t.timestamp()):.1f},{fy(v):.1f}" for t, v in points)


def _padded(lo: float, hi: float) -> tuple[float, float]:
    """At least 5 % of the level as the span, so sensor noise on a flat signal stays flat."""
    mid, need = (lo + hi) / 2, abs(lo + hi) / 2 * 0.05
    if hi - lo < need:
        return mid - need / 2, mid + need / 2
    return lo, hi


def sparkline(
    points: Sequence[Point], colour: str = "#1565c0", w: int = 120, h: int = 28
) -> Markup:
    if len(points) < 2:
        return Markup(
            f'<svg class="spark empty" width="{w}" height="{h}" role="img" aria-label="no data"></svg>'
        )
    xs = [t.timestamp() for t, _ in points]
    vs = [v for _, v in points]
    fx, fy = _scale(min(xs), max(xs), 1, w - 1), _scale(*_padded(min(vs), max(vs)), h - 2, 2)
    return Markup(
        f'<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"'
        f' aria-label="sparkline"><polyline fill="none" stroke="{colour}" stroke-width="1.5"'
        f' data-points="{len(points)}" points="{_points(points, fx, fy)}"/></svg>'
    )


def evidence_chart(window: dict[str, Any], w: int = 760, row_h: int = 78) -> Markup:
    """Small multiples, one row per metric on its own scale, sharing the time axis; the
    anomaly times are red rules, contributing metrics are drawn thick and labelled."""
    series: dict[str, list[Point]] = window["series"]
    weights: dict[str, float] = window["weights"]
    if not series:
        return Markup(
            '<p class="muted" id="evidence-empty">No sensor data stored for this window.</p>'
        )
    left, right = 150, 10
    h = row_h * len(series) + 24
    t0, t1 = window["start"].timestamp(), window["end"].timestamp()
    fx = _scale(t0, t1, left, w - right)
    parts = [
        f'<svg id="evidence-chart" class="chart" viewBox="0 0 {w} {h}" role="img"'
        f' aria-label="sensor window around the anomaly" preserveAspectRatio="xMinYMin meet">'
    ]
    for i, (metric, points) in enumerate(series.items()):
        top = i * row_h + 6
        vs = [v for _, v in points] or [0.0]
        lo, hi = min(vs), max(vs)
        fy = _scale(*_padded(lo, hi), top + row_h - 14, top + 4)
        contrib = metric in weights
        cls = "contrib" if contrib else "other"
        label = (Markup("★ ") if contrib else Markup("")) + escape(metric)
        weight = f"weight {weights[metric]:.2f} · " if contrib else ""
        parts.append(
            f'<g class="series {cls}" data-metric="{escape(metric)}">'
            f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{row_h - 10}"'
            f' class="band"/><text x="4" y="{top + 18}" class="label">{label}</text>'
            f'<text x="4" y="{top + 34}" class="range">{weight}{lo:.3g} – {hi:.3g}</text>'
            f'<polyline fill="none" data-points="{len(points)}"'
            f' points="{_points(points, fx, fy)}"/></g>'
        )
    for mark in window["marks"]:
        x = fx(mark.timestamp())
        parts.append(f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{h - 20}"/>')
    for t in (window["start"], window["end"]):
        x = fx(t.timestamp())
        anchor = "start" if t == window["start"] else "end"
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{h - 6}" text-anchor="{anchor}">'
            f"{t:%Y-%m-%d %H:%M} UTC</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def site_map(
    assets: list[dict[str, Any]],
    engineers: list[dict[str, Any]],
    w: int = 800,
    h: int = 520,
) -> Markup:
    """Equirectangular projection (x scaled by cos(latitude)) of whatever has coordinates."""
    located = [
        (a["lat"], a["lon"])
        for a in assets
        if a.get("lat") is not None and a.get("lon") is not None
    ]
    located += [
        (e["home_lat"], e["home_lon"])
        for e in engineers
        if e.get("home_lat") is not None and e.get("home_lon") is not None
    ]
    if not located:
        return Markup('<p class="muted">No asset or engineer has coordinates yet.</p>')
    lats, lons = [p[0] for p in located], [p[1] for p in located]
    k = math.cos(math.radians(sum(lats) / len(lats)))
    pad = 0.05
    lat_lo, lat_hi = min(lats) - pad, max(lats) + pad
    lon_lo, lon_hi = min(lons) - pad, max(lons) + pad
    span = max((lon_hi - lon_lo) * k / (w - 40), (lat_hi - lat_lo) / (h - 40))
    cx, cy = (lon_lo + lon_hi) / 2, (lat_lo + lat_hi) / 2

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return w / 2 + (lon - cx) * k / span, h / 2 - (lat - cy) / span

    parts = [
        f'<svg id="site-map" class="map" viewBox="0 0 {w} {h}" role="img" aria-label="site map">',
        f'<rect width="{w}" height="{h}" class="sea"/>',
    ]
    step = 1.0 if max(lat_hi - lat_lo, lon_hi - lon_lo) > 2 else 0.1
    for i in range(math.floor(lat_lo / step), math.ceil(lat_hi / step) + 1):
        _, y = xy(i * step, cx)
        if 0 <= y <= h:
            parts.append(
                f'<line class="grid" x1="0" x2="{w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                f'<text class="grid" x="4" y="{y - 3:.1f}">{i * step:.1f}°N</text>'
            )
    for i in range(math.floor(lon_lo / step), math.ceil(lon_hi / step) + 1):
        x, _ = xy(cy, i * step)
        if 0 <= x <= w:
            parts.append(
                f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{h}"/>'
                f'<text class="grid" x="{x + 3:.1f}" y="{h - 4}">{i * step:.1f}°E</text>'
            )
    for a in assets:
        if a.get("lat") is None or a.get("lon") is None:
            continue
        x, y = xy(a["lat"], a["lon"])
        colour = HEALTH_COLOURS.get(a["health"], "#888")
        parts.append(
            f'<a href="/console/fleet?site={escape(a["site"])}"><circle class="asset" cx="{x:.1f}"'
            f' cy="{y:.1f}" r="7" fill="{colour}" data-asset="{escape(a["asset"])}">'
            f"<title>{escape(a['asset'])} ({escape(a['site'])}): {a['health']}</title></circle></a>"
        )
    for e in engineers:
        if e.get("home_lat") is None or e.get("home_lon") is None:
            continue
        x, y = xy(e["home_lat"], e["home_lon"])
        parts.append(
            f'<g class="engineer" data-engineer="{e["id"]}"><rect x="{x - 6:.1f}" y="{y - 6:.1f}"'
            f' width="12" height="12"/><text x="{x + 9:.1f}" y="{y + 4:.1f}">{escape(e["name"])}'
            f" ({e.get('load', 0)})</text><title>{escape(e['name'])}: load {e.get('load', 0)},"
            f" {'available' if e.get('available', True) else 'unavailable'}</title></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
