"""Helpers shared by the console tests: log in through the form, seed an asset with a
sensor window and an anomaly through the real intake."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def uid() -> str:
    return uuid.uuid4().hex[:8]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def login(client: httpx.Client | Any, token: str, name: str = "") -> Any:
    page = client.get("/console/login")
    assert page.status_code == 200
    return client.post(
        "/console/login",
        data={"csrf": csrf_of(page.text), "token": token, "name": name, "next": "/console/board"},
        follow_redirects=False,
    )


def seed_asset(
    db: psycopg.Connection[Any],
    *,
    site: str = "site-a",
    asset_class: str = "centrifugal_pump",
    lat: float = 52.3,
    lon: float = 4.9,
    anomaly_at: datetime | None = None,
    degrade: float = 1.0,
) -> tuple[str, datetime]:
    """An asset and 3 h of telemetry at 30 s: vibration and bearing temperature rising in the
    last hour (scaled by ``degrade``; 0 is a healthy asset), flow steady."""
    asset = f"pump-{uid()}"
    at = anomaly_at or datetime.now(UTC).replace(microsecond=0)
    db.execute(
        "insert into assets (asset, site, asset_class, lat, lon, last_seen) values"
        " (%s, %s, %s, %s, %s, %s)",
        (asset, site, asset_class, lat, lon, at),
    )
    rows = []
    for i in range(360):
        t = at - timedelta(hours=2, minutes=30) + timedelta(seconds=30 * i)
        growth = max(0.0, (t - (at - timedelta(hours=1))).total_seconds() / 3600)
        wobble = math.sin(i / 9) + 0.4 * math.sin(i / 2.3)
        rows.append((t, asset, "vibration_rms", 2.0 + 3.0 * growth * degrade + 0.08 * wobble))
        rows.append((t, asset, "bearing_temp_c", 41.0 + 1.5 * growth * degrade + 0.3 * wobble))
        rows.append((t, asset, "flow_m3h", 120.0 - 0.6 * wobble))
    with db.cursor() as cur:
        cur.executemany(
            "insert into telemetry (time, asset, metric, value) values (%s, %s, %s, %s)", rows
        )
    return asset, at


def anomaly_event(asset: str, at: datetime, site: str = "site-a", **kw: Any) -> dict[str, Any]:
    return {
        "event_id": f"ev-{uid()}",
        "site": site,
        "asset": asset,
        "asset_class": "centrifugal_pump",
        "ts": at.isoformat(),
        "detector": {"name": "hst", "version": "1", "config_hash": "abc"},
        "score": 0.91,
        "severity": "critical",
        "fault_mode": "bearing_wear",
        "contributors": [
            {"metric": "vibration_rms", "weight": 0.82},
            {"metric": "bearing_temp_c", "weight": 0.11},
        ],
        **kw,
    }
