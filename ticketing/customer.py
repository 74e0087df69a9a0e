"""The customer's side: report a fault from the asset's QR code, follow it, reply, rate it.

No login: the QR code's link carries a per-asset key (so a random asset name is not enough
to open tickets), every public submission is rate-limited per client address (stored only
as a digest), and a customer sees public statuses and public messages, never names or notes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from forewarn.settings import Section, Settings, section
from ticketing import lifecycle
from ticketing import tickets as T
from ticketing.errors import Conflict, NotFound, TicketingError
from ticketing.records import add_comment, summary
from ticketing.schemas import NO_NUL, Storable, TicketCreate
from ticketing.store import Actor, Row, Tx

CUSTOMER = Actor("customer", "customer")


class CustomerSettings(Section):
    reports_per_hour: int = Field(5, ge=1, le=10_000, description="per client address")
    replies_per_hour: int = Field(20, ge=1, le=10_000, description="replies and ratings")
    max_form_bytes: int = Field(20_000, ge=1024, le=1_000_000, description="larger: 413")
    public_url: str = Field("http://127.0.0.1:8080", description="base of the QR code links")


def customer_settings(settings: Settings) -> CustomerSettings:
    return section(settings, "customer", CustomerSettings)


class RateLimited(TicketingError):
    status = 429


class TooLarge(TicketingError):
    status = 413


class ReportIn(BaseModel):
    title: Annotated[
        str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=NO_NUL)
    ]
    description: Annotated[str, StringConstraints(max_length=5000, pattern=NO_NUL), Storable] = ""
    contact: Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL), Storable] = ""


def client_digest(host: str | None) -> str:
    return hashlib.sha256((host or "unknown").encode()).hexdigest()


def limit(tx: Tx, client: str, kinds: tuple[str, ...], per_hour: int) -> None:
    """Count this submission, or refuse it with 429 when the client used up the hour."""
    since = tx.now - timedelta(hours=1)
    row = tx.one(
        "select count(*)::int as n, min(at) as first from customer_submissions"
        " where client = %s and kind = any(%s) and at > %s",
        (client, list(kinds), since),
    )
    assert row is not None
    if row["n"] >= per_hour:
        retry = int((row["first"] + timedelta(hours=1) - tx.now).total_seconds()) + 1
        raise RateLimited(
            f"too many submissions from here; try again in {max(1, retry // 60)} minute(s)",
            retry_after=retry,
        )
    tx.conn.execute(
        "insert into customer_submissions (at, client, kind) values (%s, %s, %s)",
        (tx.now, client, kinds[0]),
    )


def report_key(tx: Tx, asset: str) -> str:
    """The asset's key for its QR code (made on first use)."""
    T.asset(tx, asset)
    row = tx.one(
        "insert into asset_report_keys (asset, key, created_at) values (%s, %s, %s)"
        " on conflict (asset) do update set asset = excluded.asset returning key",
        (asset, secrets.token_urlsafe(12), tx.now),
    )
    assert row is not None
    return str(row["key"])


def checked_asset(tx: Tx, asset: str, key: str | None) -> Row:
    """The asset, if ``key`` is its report key; otherwise 404 (no hint which part is wrong)."""
    row = tx.one(
        "select a.asset, a.site, a.asset_class from assets a join asset_report_keys k"
        " on k.asset = a.asset where a.asset = %s and k.key = %s",
        (asset, key or ""),
    )
    if row is None or not key:
        raise NotFound("report link for asset", asset)
    return row


def report(tx: Tx, asset: Row, data: ReportIn, client: str, per_hour: int) -> Row:
    limit(tx, client, ("report",), per_hour)
    body = TicketCreate(
        asset=asset["asset"],
        source="customer",
        priority="P2",
        title=data.title,
        description=data.description,
        contact=data.contact or None,
    )
    row, _linked = T.create(tx, CUSTOMER, body)
    return row


def by_code(tx: Tx, code: str, *, lock: bool = False) -> Row:
    row = tx.one(
        "select * from tickets where tracking_code = %s" + (" for update" if lock else ""),
        (code,),
    )
    if row is None:
        raise NotFound("tracking code", code)
    return row


def public_history(tx: Tx, row: Row) -> list[dict[str, Any]]:
    """The ticket's public statuses over time (from its audit trail), each change once."""
    history: list[dict[str, Any]] = [
        {"at": row["created_at"], "status": lifecycle.PUBLIC_STATE["new"]}
    ]
    for ev in tx.all(
        "select at, body from audit_events where entity = 'ticket' and entity_id = %s order by seq",
        (str(row["id"]),),
    ):
        status = lifecycle.PUBLIC_STATE.get(
            (json.loads(ev["body"]).get("after") or {}).get("state", "")
        )
        if status and status != history[-1]["status"]:
            history.append({"at": ev["at"], "status": status})
    return history


def track(tx: Tx, code: str) -> dict[str, Any]:
    """Progress by tracking code (the API's ``/track`` and the console's page): statuses and
    public messages, no names or notes."""
    row = by_code(tx, code)
    messages = tx.all(
        "select body from comments where ticket_id = %s and not internal order by id",
        (row["id"],),
    )
    return {
        "tracking_code": code,
        "status": lifecycle.PUBLIC_STATE[row["state"]],
        "opened_at": row["created_at"],
        "updated_at": row["updated_at"],
        "history": public_history(tx, row),
        "messages": [r["body"] for r in messages],
    }


def view(tx: Tx, code: str) -> dict[str, Any]:
    """What the customer may see: statuses, public messages (theirs and ours), the rating."""
    row = by_code(tx, code)
    history = public_history(tx, row)
    messages = tx.all(
        "select created_at as at, body, role = 'customer' as mine from comments"
        " where ticket_id = %s and not internal order by id",
        (row["id"],),
    )
    rating = tx.one(
        "select score, comment, created_at from ticket_ratings where ticket_id = %s", (row["id"],)
    )
    return {
        "code": code,
        "state": row["state"],
        "status": lifecycle.PUBLIC_STATE[row["state"]],
        "asset": row["asset"],
        "site": row["site"],
        "title": row["title"],
        "opened_at": row["created_at"],
        "updated_at": row["updated_at"],
        "history": history,
        "messages": messages,
        "rating": rating,
        "can_reply": row["state"] != "cancelled",
        "can_rate": row["state"] in ("resolved", "closed") and rating is None,
        **_signoff(tx, row),
    }


def _signoff(tx: Tx, row: Row) -> dict[str, Any]:
    from ticketing import signoff

    done = signoff.get(tx, row["id"])
    return {"signoff": done, "can_sign": row["state"] in ("resolved", "closed") and not done}


def reply(tx: Tx, code: str, text: str, client: str, per_hour: int) -> Row:
    limit(tx, client, ("reply", "rating"), per_hour)
    row = by_code(tx, code, lock=True)
    if row["state"] == "cancelled":
        raise Conflict("this job was cancelled; please report a new fault instead")
    comment = add_comment(tx, CUSTOMER, row, text, False)
    tx.emit(
        "ticket.customer_reply",
        row["site"],
        row["id"],
        {**summary(row), "message": text, "comment": {"id": comment["id"]}},
    )
    return comment


def rate(tx: Tx, code: str, score: int, comment: str, client: str, per_hour: int) -> Row:
    limit(tx, client, ("rating", "reply"), per_hour)
    row = by_code(tx, code, lock=True)
    if row["state"] not in ("resolved", "closed"):
        raise Conflict("the job can be rated once it is resolved")
    new = tx.one(
        "insert into ticket_ratings (ticket_id, engineer_id, score, comment, created_at)"
        " values (%s, %s, %s, %s, %s) on conflict (ticket_id) do nothing returning *",
        (row["id"], row["engineer_id"], score, comment, tx.now),
    )
    if new is None:
        raise Conflict("this job was already rated; thank you")
    tx.audit(CUSTOMER, "rated", "ticket", row["id"], None, {"score": score, "comment": comment})
    tx.emit("ticket.rated", row["site"], row["id"], {**summary(row), "score": score})
    return new


RANGE = (
    "(%(start)s::timestamptz is null or r.created_at >= %(start)s)"
    " and (%(end)s::timestamptz is null or r.created_at < %(end)s)"
)


def csat(tx: Tx, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """Average rating overall and per engineer, for ratings given in [start, end)."""
    params = {"start": start, "end": end}
    total = tx.one(
        f"select count(*)::int as ratings, round(avg(score), 2)::float as average"
        f" from ticket_ratings r where {RANGE}",
        params,
    )
    per = tx.all(
        f"select r.engineer_id, e.name, count(*)::int as ratings,"
        f" round(avg(score), 2)::float as average from ticket_ratings r"
        f" left join engineers e on e.id = r.engineer_id where {RANGE}"
        " group by r.engineer_id, e.name order by r.engineer_id nulls last",
        params,
    )
    return {**(total or {}), "engineers": per}
