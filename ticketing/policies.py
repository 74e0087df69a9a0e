"""SLA policies: which response/resolution minutes apply to a priority at a site.

A site's own policy wins over the default one (site ``*``). :func:`lookup` is the one
statement of that rule, for a ticket's deadlines and for the SLA scans alike.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ticketing.schemas import SlaPolicy
from ticketing.store import Actor, Row, Tx


def lookup(priority: str, site: str) -> str:
    """SQL selecting the policy for ``priority`` at ``site`` (SQL expressions or placeholders,
    e.g. ``lookup("%s", "%s")`` or ``lookup("t.priority", "t.site")``); at most one row."""
    return (
        f"select * from sla_policies p where p.priority = {priority}"
        f" and p.site in ({site}, '*') order by p.site = '*' limit 1"
    )


def deadlines(tx: Tx, priority: str, start: Any, site: str = "*") -> tuple[Any, Any]:
    """Response and resolution deadlines from the site's policy, else the default one."""
    p = tx.one(lookup("%s", "%s"), (priority, site))
    if p is None:
        return None, None
    return (
        start + timedelta(minutes=p["response_minutes"]),
        start + timedelta(minutes=p["resolution_minutes"]),
    )


def listing(tx: Tx, actor: Actor) -> list[Row]:
    """Every policy the actor's scope covers (the defaults, and its sites' own)."""
    rows = tx.all("select * from sla_policies order by priority, site <> '*', site")
    return [r for r in rows if r["site"] == "*" or actor.sees(r["site"])]


def put(tx: Tx, actor: Actor, priority: str, site: str, body: SlaPolicy) -> Row | None:
    """Set (insert or replace) the policy for ``priority`` at ``site``, audited."""
    before = tx.one(
        "select * from sla_policies where priority = %s and site = %s for update",
        (priority, site),
    )
    row = tx.one(
        "insert into sla_policies (priority, site, response_minutes, resolution_minutes,"
        " warn_before_minutes) values (%s, %s, %s, %s, %s) on conflict (priority, site)"
        " do update set response_minutes = excluded.response_minutes, resolution_minutes ="
        " excluded.resolution_minutes, warn_before_minutes = excluded.warn_before_minutes"
        " returning *",
        (
            priority,
            site,
            body.response_minutes,
            body.resolution_minutes,
            body.warn_before_minutes,
        ),
    )
    tx.audit(actor, "sla_policy_set", "sla_policy", f"{priority}@{site}", before, row)
    return row
