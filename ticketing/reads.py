"""Ticket reads that the API, the console and the CLI share: the listing and the timeline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ticketing import tickets as T
from ticketing.lifecycle import T_OPEN
from ticketing.store import Actor, Row, Tx

FROM = {  # with the assigned engineer's name as ``engineer``, or without
    True: ", e.name as engineer from tickets t left join engineers e on e.id = t.engineer_id",
    False: " from tickets t",
}


def listing(
    tx: Tx,
    *,
    states: Sequence[str] | None = None,
    priority: str | None = None,
    source: str | None = None,
    site: str | None = None,
    asset: str | None = None,
    engineer_id: int | None = None,
    scope: Sequence[str] | None = None,
    open_only: bool = False,
    limit: int = 100,
    offset: int = 0,
    engineer_names: bool = False,
) -> list[Row]:
    """Tickets, newest first, filtered; ``scope`` is a site-scoped token's sites (None: all);
    ``engineer_names`` adds the assigned engineer's name as ``engineer``."""
    where: list[str] = ["true"]
    params: dict[str, Any] = {}
    for col, val in (
        ("priority", priority),
        ("source", source),
        ("site", site),
        ("asset", asset),
        ("engineer_id", engineer_id),
    ):
        if val is not None:
            where.append(f"t.{col} = %({col})s")
            params[col] = val
    if states:
        where.append("t.state = any(%(states)s)")
        params["states"] = list(states)
    if scope is not None:
        where.append("t.site = any(%(scope)s)")
        params["scope"] = list(scope)
    if open_only:
        where.append(T_OPEN)
    params |= {"limit": limit, "offset": offset}
    return tx.all(
        f"select t.*{FROM[engineer_names]} where {' and '.join(where)} order by t.id desc"
        " limit %(limit)s offset %(offset)s",
        params,
    )


def visible(tx: Tx, actor: Actor, **filters: Any) -> list[dict[str, Any]]:
    """The listing as ``actor`` may see it: engineers get only their own tickets, a
    site-scoped token only its sites'; each with its allowed transitions."""
    if actor.role == "engineer":
        filters["engineer_id"] = actor.engineer_id or -1
    rows = listing(tx, scope=actor.sites, **filters)
    return [T.out(r) for r in rows]


def timeline(
    tx: Tx, actor: Actor, ticket_id: int, *, after_seq: int = 0, limit: int = 500
) -> list[dict[str, Any]]:
    """The ticket's audit events, oldest first, after ``after_seq``."""
    T.get_for(tx, actor, ticket_id)
    rows = tx.all(
        "select seq, at, actor, role, action, body from audit_events"
        " where entity = 'ticket' and entity_id = %s and seq > %s order by seq limit %s",
        (str(ticket_id), after_seq, limit),
    )
    out = []
    for r in rows:
        body = json.loads(r.pop("body"))
        out.append({**r, "before": body.get("before"), "after": body.get("after")})
    return out
