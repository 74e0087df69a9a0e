"""Helpers shared by the ticketing tests (uniquely named, so importable from any test)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

MONDAY_9 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY_SHIFT = [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}]


def uid() -> str:
    return secrets.token_hex(4)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def anomaly(
    asset: str,
    *,
    fault: str = "bearing_wear",
    site: str = "site-a",
    severity: str = "warning",
    event_id: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return {
        "event_id": event_id or f"ev-{uid()}",
        "site": site,
        "asset": asset,
        "ts": "2026-01-05T08:55:00Z",
        "detector": {"name": "hst", "version": "1", "config_hash": "abc"},
        "score": 0.93,
        "severity": severity,
        "fault_mode": fault,
        **kw,
    }


def feedback_row(db: Any, ticket_id: int) -> tuple[Any, ...] | None:
    """What the detectors are told of a resolved ticket (its ``detector_feedback`` row)."""
    row: tuple[Any, ...] | None = db.execute(
        "select asset, fault_mode, resolution_code, confirmed_fault_mode, event_ids"
        " from detector_feedback where ticket_id = %s",
        (ticket_id,),
    ).fetchone()
    return row
