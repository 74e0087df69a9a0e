"""Notification channels, on-call rotations, escalation chains and the outbox, over HTTP.

Channel URLs are Apprise URLs and may carry passwords or tokens: they are stored, used by
the sender, and shown back (and audited) only with their secrets masked.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator

from ticketing import scope
from ticketing.api.common import role_router, roles, store, strict
from ticketing.auth import SITE_RE, STAFF, WORKERS
from ticketing.errors import Invalid, NotFound
from ticketing.notifications import oncall, outbox
from ticketing.schemas import MAX_ID, NO_NUL, In, Short, Storable
from ticketing.store import Actor, Row, Tx

router = role_router(prefix="/notifications", tags=["notifications"])
EventName = Literal["*"] | outbox.Event
Site = Annotated[str, StringConstraints(pattern=SITE_RE.pattern)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


class ChannelIn(In):
    engineer_id: int | None = Field(None, ge=1, le=MAX_ID)
    role: Literal["dispatcher", "supervisor", "admin"] | None = None
    url: Annotated[str, StringConstraints(min_length=3, max_length=2000, pattern=NO_NUL), Storable]
    label: Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL), Storable] = ""
    events: list[EventName] = Field(default=["*"], min_length=1, max_length=10)
    locale: Literal["en", "zh_CN"] = "en"
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    sites: list[Site] | None = Field(
        None,
        min_length=1,
        max_length=50,
        description="a role's channel: news of these sites only (low stock, breaches,"
        " escalations); omitted: every site, or the sites of a site-scoped token",
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r} (an IANA name like Asia/Shanghai)") from None
        return v


class ChannelOut(BaseModel):
    id: int
    engineer_id: int | None
    role: str | None
    url: str = Field(description="with passwords and tokens masked")
    label: str
    events: list[str]
    locale: str
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    sites: list[str] | None = Field(description="null: every site")
    active: bool
    created_at: datetime


class RotationIn(In):
    name: Short
    site: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)] = "*"
    members: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=50)
    handoff_at: AwareDatetime
    period_hours: int = Field(168, ge=1, le=24 * 366)
    ack_minutes: int = Field(15, ge=1, le=24 * 60)
    supervisor_id: int | None = Field(None, ge=1, le=MAX_ID)


class RotationOut(BaseModel):
    id: int
    name: str
    site: str
    members: list[int]
    handoff_at: datetime
    period_hours: int
    ack_minutes: int
    supervisor_id: int | None
    on_call_now: list[int] = Field(description="primary first")


class ChainOut(BaseModel):
    id: int
    ticket_id: int
    rotation_id: int | None
    reason: str
    chain: list[int]
    level: int
    started_at: datetime
    next_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class OutboxOut(BaseModel):
    id: int
    channel_id: int
    event: str
    ticket_id: int | None
    chain_id: int | None
    title: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _masked(row: Row) -> Row:
    try:
        url = outbox.check_url(row["url"])
    except ValueError:
        url = "***"
    return {**row, "url": url}


def _covers(actor: Actor, row: Row) -> bool:
    """Whether a channel is of the token's sites (channels of every site are everyone's)."""
    return row["sites"] is None or any(actor.sees(s) for s in row["sites"])


@router.post("/channels", response_model=ChannelOut, status_code=201)
def create_channel(
    request: Request, body: ChannelIn, actor: Actor = roles(*STAFF), _s: None = strict(ChannelIn)
) -> Any:
    """A channel for one engineer or one role (exactly one of ``engineer_id``, ``role``)."""
    if (body.engineer_id is None) == (body.role is None):
        raise Invalid("give exactly one of engineer_id or role", field="engineer_id")
    if (body.quiet_start is None) != (body.quiet_end is None):
        raise Invalid("quiet hours need both quiet_start and quiet_end", field="quiet_end")
    if body.sites is not None and body.role is None:
        raise Invalid(
            "sites go with a role's channel; an engineer hears of their own tickets anywhere",
            field="sites",
        )
    for site in body.sites or ():
        scope.site_param(actor, site)  # 403 for a site outside the token's scope
    sites = body.sites or (list(actor.sites) if actor.sites and body.role else None)
    sites = sorted(set(sites)) if sites is not None else None
    try:
        masked = outbox.check_url(body.url)
    except ValueError as exc:
        raise Invalid(f"url: {exc}", field="url") from None

    def fn(tx: Tx) -> Row:
        if (
            body.engineer_id is not None
            and tx.one("select 1 from engineers where id = %s", (body.engineer_id,)) is None
        ):
            raise NotFound("engineer", body.engineer_id)
        data = {**body.model_dump(), "sites": sites}
        row = tx.one(
            "insert into notification_channels (engineer_id, role, url, label, events, locale,"
            " quiet_start, quiet_end, timezone, sites, created_at) values (%(engineer_id)s,"
            " %(role)s, %(url)s, %(label)s, %(events)s, %(locale)s, %(quiet_start)s,"
            " %(quiet_end)s, %(timezone)s, %(sites)s, %(now)s) returning *",
            {**data, "now": tx.now},
        )
        assert row is not None
        tx.audit(actor, "channel_created", "channel", row["id"], None, {**data, "url": masked})
        return {**row, "url": masked}

    return store(request).run(fn)


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(request: Request, actor: Actor = roles(*STAFF)) -> Any:
    """Every channel; for a site-scoped token those of its sites and those of every site."""
    rows = store(request).read(lambda tx: tx.all("select * from notification_channels order by id"))
    return [_masked(r) for r in rows if _covers(actor, r)]


@router.delete("/channels/{channel_id}", response_model=ChannelOut)
def deactivate_channel(request: Request, channel_id: Id, actor: Actor = roles(*STAFF)) -> Any:
    """Deactivate (kept for the outbox's history); pending messages to it fail."""

    def fn(tx: Tx) -> Row:
        old = tx.one("select sites from notification_channels where id = %s", (channel_id,))
        if old is None or not _covers(actor, old):  # another site's channel: as if absent
            raise NotFound("channel", channel_id)
        row = tx.one(
            "update notification_channels set active = false where id = %s returning *",
            (channel_id,),
        )
        assert row is not None
        tx.audit(
            actor, "channel_deactivated", "channel", channel_id, {"active": True}, {"active": False}
        )
        return _masked(row)

    return store(request).run(fn)


def _rotation_out(tx: Tx, row: Row) -> Row:
    return {**row, "on_call_now": oncall.on_call(row, tx.now)[:2]}


@router.post("/rotations", response_model=RotationOut, status_code=201)
def create_rotation(
    request: Request, body: RotationIn, actor: Actor = roles(*STAFF), _s: None = strict(RotationIn)
) -> Any:
    """Members take turns of ``period_hours`` from ``handoff_at``; the next one is secondary."""
    if body.site == "*":
        scope.require_unscoped(actor, "create an all-site (*) rotation")
    scope.site_param(actor, body.site)

    def fn(tx: Tx) -> Row:
        ids = [*body.members, *([body.supervisor_id] if body.supervisor_id else [])]
        known = {r["id"] for r in tx.all("select id from engineers where id = any(%s)", (ids,))}
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFound("engineer", missing[0])
        row = tx.one(
            "insert into oncall_rotations (name, site, members, handoff_at, period_hours,"
            " ack_minutes, supervisor_id, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s)"
            " returning *",
            (
                body.name,
                body.site,
                body.members,
                body.handoff_at,
                body.period_hours,
                body.ack_minutes,
                body.supervisor_id,
                tx.now,
            ),
        )
        assert row is not None
        tx.audit(
            actor, "rotation_created", "rotation", row["id"], None, body.model_dump(mode="json")
        )
        return _rotation_out(tx, row)

    return store(request).run(fn)


@router.get("/rotations", response_model=list[RotationOut])
def list_rotations(request: Request, actor: Actor = roles(*STAFF)) -> Any:
    return scope.rows(
        actor,
        store(request).read(
            lambda tx: [
                _rotation_out(tx, r) for r in tx.all("select * from oncall_rotations order by id")
            ]
        ),
        shared="*",
    )


@router.get("/chains", response_model=list[ChainOut])
def list_chains(
    request: Request,
    actor: Actor = roles(*WORKERS),
    ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    open_only: bool = False,
) -> Any:
    """Escalation chains; an engineer sees those that page them."""
    mine = (actor.engineer_id or -1) if actor.role == "engineer" else None
    return store(request).read(
        lambda tx: scope.by_ticket(
            tx,
            actor,
            tx.all(
                "select * from escalation_chains where (%(t)s::bigint is null or ticket_id = %(t)s)"
                " and (not %(open)s or acknowledged_at is null)"
                " and (%(me)s::bigint is null or %(me)s = any(chain)) order by id desc limit 200",
                {"t": ticket_id, "open": open_only, "me": mine},
            ),
        )
    )


@router.post("/chains/{chain_id}/ack", response_model=ChainOut)
def acknowledge(request: Request, chain_id: Id, actor: Actor = roles(*WORKERS)) -> Any:
    """Acknowledge a page: the chain stops climbing (engineers only for pages they got)."""

    return store(request).run(lambda tx: scope.chain_then(tx, actor, chain_id, oncall.acknowledge))


@router.get("/outbox", response_model=list[OutboxOut])
def list_outbox(
    request: Request,
    actor: Actor = roles(*STAFF),
    ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    return store(request).read(
        lambda tx: scope.by_ticket(
            tx,
            actor,
            tx.all(
                "select * from notification_outbox where (%(t)s::bigint is null"
                " or ticket_id = %(t)s) and (%(s)s::text is null or status = %(s)s)"
                " order by id desc limit %(n)s",
                {"t": ticket_id, "s": status, "n": limit},
            ),
        )
    )
