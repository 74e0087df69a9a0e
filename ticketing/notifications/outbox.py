"""Queueing a message: the channel's template and language, its quiet hours, one outbox row.

Templates are files (``templates/<locale>/<event>.txt``, first line the title) so wording
changes need no code. Breaches and escalations are urgent and ignore quiet hours: an
on-call page at 23:00 is the point of being on call.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import apprise
import jinja2

from ticketing.store import Row, Tx

HERE = Path(__file__).parent
Event = Literal["assigned", "sla_warning", "breach", "escalation", "customer_reply", "low_stock"]
EVENTS: tuple[str, ...] = get_args(Event)  # what a channel may subscribe to (or "*")
URGENT = frozenset({"breach", "escalation"})
LOCALES = ("en", "zh_CN")
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=False,  # plain text messages, not HTML
    keep_trailing_newline=False,
)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_text(when: datetime, tz: str) -> str:
    return when.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z")


def render(event: str, locale: str, ctx: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of ``event`` in ``locale`` (English when that language lacks it)."""
    name = f"{locale if locale in LOCALES else 'en'}/{event}.txt"
    text = _env.get_template(name).render(**ctx).strip()
    title, _, body = text.partition("\n")
    return title.strip(), body.strip()


def quiet_until(now: datetime, start: time, end: time, tz: str) -> datetime | None:
    """When quiet hours that cover ``now`` end (UTC), or None outside them."""
    z = zone(tz)
    local = now.astimezone(z)
    t = local.time().replace(tzinfo=None)
    day: date = local.date()
    if start <= end:
        inside = start <= t < end
    else:  # over midnight, e.g. 22:00-07:00
        inside = t >= start or t < end
        if t >= start:
            day = day + timedelta(days=1)
    if not inside:
        return None
    return datetime.combine(day, end, tzinfo=z).astimezone(UTC)


def check_url(url: str) -> str:
    """The URL with its secrets masked; ValueError when Apprise does not know it."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise ValueError("not an Apprise URL this server can use")
    return str(plugin.url(privacy=True))


def channels(
    tx: Tx, *, engineer_id: int | None = None, role: str | None = None, site: str | None = None
) -> list[Row]:
    """An engineer's active channels, or a role's active channels that cover ``site`` (those
    without sites cover every site; ``site`` None, e.g. a store every site shares: all)."""
    if engineer_id is not None:
        return tx.all(
            "select * from notification_channels where active and engineer_id = %s order by id",
            (engineer_id,),
        )
    return tx.all(
        "select * from notification_channels where active and role = %s"
        " and (sites is null or %s::text is null or %s = any(sites)) order by id",
        (role, site, site),
    )


def enqueue(
    tx: Tx,
    channel: Row,
    event: str,
    ctx: dict[str, Any],
    *,
    ticket_id: int | None = None,
    chain_id: int | None = None,
) -> int | None:
    """One outbox row for ``channel``, unless it does not subscribe to ``event``."""
    if "*" not in channel["events"] and event not in channel["events"]:
        return None
    tz = channel["timezone"]
    local = {k: local_text(v, tz) if isinstance(v, datetime) else v for k, v in ctx.items()}
    title, body = render(event, channel["locale"], local)
    at = tx.now
    if event not in URGENT and channel["quiet_start"] is not None:
        at = quiet_until(tx.now, channel["quiet_start"], channel["quiet_end"], tz) or tx.now
    row = tx.one(
        "insert into notification_outbox (channel_id, event, ticket_id, chain_id, title, body,"
        " next_attempt_at, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s) returning id",
        (channel["id"], event, ticket_id, chain_id, title, body, at, tx.now),
    )
    assert row is not None
    return int(row["id"])


def to_engineer(
    tx: Tx,
    engineer_id: int | None,
    event: str,
    ctx: dict[str, Any],
    *,
    ticket_id: int | None = None,
    chain_id: int | None = None,
) -> int:
    if engineer_id is None:
        return 0
    eng = tx.one("select name from engineers where id = %s", (engineer_id,))
    ctx = {"engineer": eng["name"] if eng else "", **ctx}
    ids = [
        enqueue(tx, c, event, ctx, ticket_id=ticket_id, chain_id=chain_id)
        for c in channels(tx, engineer_id=engineer_id)
    ]
    return sum(i is not None for i in ids)


def to_role(
    tx: Tx,
    role: str,
    site: str | None,
    event: str,
    ctx: dict[str, Any],
    *,
    ticket_id: int | None = None,
) -> int:
    """Queue ``event`` to the role's channels that cover ``site`` (the ticket's or store's)."""
    ids = [
        enqueue(tx, c, event, ctx, ticket_id=ticket_id) for c in channels(tx, role=role, site=site)
    ]
    return sum(i is not None for i in ids)
