"""Demo notification channels and one on-call rotation, so ``make demo`` shows the people
side: who is on call now (primary, secondary, supervisor) on the console's On call page.

The channels are created disabled and point at the discard port on localhost
(``127.0.0.1:9``, e-mail domain ``demo.invalid``): a demo never mails or posts anywhere. To
try real delivery, add a channel with your own Apprise URL (``POST /notifications/channels``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ticketing.notifications import outbox
from ticketing.store import Actor, Tx

ROTATION = "Demo on call"
HANDOFF = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday, 08:00 UTC
LABEL = "demo (disabled; harmless local address)"


def email_url(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".")
    return f"mailto://127.0.0.1:9?mode=insecure&from=forewarn@demo.invalid&to={slug}@demo.invalid"


DISPATCH_URL = "json://127.0.0.1:9/"


def _channel(tx: Tx, actor: Actor, engineer_id: int | None, role: str | None, url: str) -> None:
    exists = tx.one(
        "select 1 from notification_channels where label = %s and engineer_id is not distinct"
        " from %s and role is not distinct from %s",
        (LABEL, engineer_id, role),
    )
    if exists is not None:
        return
    masked = outbox.check_url(url)  # ValueError if Apprise ever stops knowing it
    data: dict[str, Any] = {
        "engineer_id": engineer_id,
        "role": role,
        "label": LABEL,
        "events": ["*"],
        "active": False,
    }
    row = tx.one(
        "insert into notification_channels (engineer_id, role, url, label, events, active,"
        " created_at) values (%s, %s, %s, %s, %s, false, %s) returning id",
        (engineer_id, role, url, LABEL, ["*"], tx.now),
    )
    assert row is not None
    tx.audit(actor, "channel_created", "channel", row["id"], None, {**data, "url": masked})


def seed_people(tx: Tx, actor: Actor, members: list[int], supervisor: int | None) -> None:
    """Once: a disabled e-mail channel per member, a disabled dispatcher channel, and a
    rotation of ``members`` (24 h turns, 15 min to acknowledge) closed by ``supervisor``."""
    names = {r["id"]: r["name"] for r in tx.all("select id, name from engineers")}
    for eid in [*members, *([supervisor] if supervisor else [])]:
        _channel(tx, actor, eid, None, email_url(names[eid]))
    _channel(tx, actor, None, "dispatcher", DISPATCH_URL)
    if tx.one("select 1 from oncall_rotations where name = %s", (ROTATION,)) is not None:
        return
    body = {
        "name": ROTATION,
        "site": "*",
        "members": members,
        "handoff_at": HANDOFF,
        "period_hours": 24,
        "ack_minutes": 15,
        "supervisor_id": supervisor,
    }
    row = tx.one(
        "insert into oncall_rotations (name, site, members, handoff_at, period_hours,"
        " ack_minutes, supervisor_id, created_at) values (%(name)s, %(site)s, %(members)s,"
        " %(handoff_at)s, %(period_hours)s, %(ack_minutes)s, %(supervisor_id)s, %(now)s)"
        " returning id",
        {**body, "now": tx.now},
    )
    assert row is not None
    tx.audit(
        actor,
        "rotation_created",
        "rotation",
        row["id"],
        None,
        {**body, "handoff_at": HANDOFF.isoformat()},
    )
