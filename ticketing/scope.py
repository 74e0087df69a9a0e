"""A token's site scope applied to routes added after it (assets, maintenance, people).

One rule everywhere (docs/security.md, issue 14 item 8): another site's existing things
answer 404 as if absent, a request naming another site answers 403, lists are filtered,
and things spanning every site are 403 for scoped tokens. Unscoped tokens pass untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ticketing.auth import require_site, require_unscoped
from ticketing.errors import NotFound
from ticketing.store import Actor, Row, Tx

T = TypeVar("T")

__all__ = [
    "asset",
    "asset_then",
    "by_ticket",
    "chain",
    "chain_then",
    "owned",
    "require_site",
    "require_unscoped",
    "rows",
    "site_param",
    "sql_sites",
    "stock",
    "store",
]


def asset(tx: Tx, actor: Actor, name: str) -> None:
    """404 for an asset of another site (unknown assets are left to the route's own 404)."""
    if actor.sites is None:
        return
    row = tx.one("select site from assets where asset = %s", (name,))
    if row is not None and not actor.sees(row["site"]):
        raise NotFound("asset", name)


def asset_then(tx: Tx, actor: Actor, name: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` once the asset is known to be in scope (404 otherwise)."""
    asset(tx, actor, name)
    return fn(*args)


def owned(tx: Tx, actor: Actor, entity: str, ident: object, site_sql: str) -> None:
    """404 for a thing (``entity ident``) of another site; ``site_sql`` (a constant, one
    ``%s``: the id) selects its ``site``."""
    if actor.sites is None:
        return
    row = tx.one(site_sql, (ident,))
    if row is not None and not actor.sees(row["site"]):
        raise NotFound(entity, ident)


def site_param(actor: Actor, site: str | None) -> None:
    """403 when a ``site`` the request names is outside the scope."""
    if site is not None:
        require_site(actor, site)


def sql_sites(actor: Actor) -> list[str] | None:
    """The scope as a SQL array parameter (None: every site)."""
    return list(actor.sites) if actor.sites is not None else None


def rows(actor: Actor, items: Iterable[Row], key: str = "site", shared: str | None = None) -> Any:
    """Only the rows of the token's sites (``shared``: a site value every token sees)."""
    return [r for r in items if r[key] == shared or actor.sees(r[key])]


def by_ticket(tx: Tx, actor: Actor, items: list[Row], key: str = "ticket_id") -> list[Row]:
    """Only the rows whose ticket is of the token's sites (rows without a ticket: unscoped
    tokens only)."""
    if actor.sites is None:
        return items
    ids = [r[key] for r in items if r[key] is not None]
    seen = {
        t["id"]
        for t in tx.all(
            "select id from tickets where id = any(%s) and site = any(%s)",
            (ids, list(actor.sites)),
        )
    }
    return [r for r in items if r[key] in seen]


def stock(actor: Actor, part: Row) -> Row:
    """A part with only the stock of the token's sites' stores and shared ones (site null)."""
    return {**part, "stock": rows(actor, part["stock"])}


def store(tx: Tx, actor: Actor, part_id: int, name: str, site: str | None) -> None:
    """Counting a store: 404 for another site's store, 403 for moving it to another site or
    for a shared store (site null, every site takes from it)."""
    if actor.sites is None:
        return
    old = tx.one("select site from stock where part_id = %s and store = %s", (part_id, name))
    if old is not None and old["site"] is not None and not actor.sees(old["site"]):
        raise NotFound("store", name)
    site = site if site is not None else (old["site"] if old else None)
    if site is None:
        require_unscoped(actor, "count a store shared by every site")
    else:
        require_site(actor, site)


def chain(tx: Tx, actor: Actor, chain_id: int) -> None:
    """404 for an escalation chain paging about another site's ticket."""
    if actor.sites is None:
        return
    row = tx.one(
        "select t.site from escalation_chains c join tickets t on t.id = c.ticket_id"
        " where c.id = %s",
        (chain_id,),
    )
    if row is not None and not actor.sees(row["site"]):
        raise NotFound("escalation chain", chain_id)


def chain_then(tx: Tx, actor: Actor, chain_id: int, fn: Callable[[Tx, Actor, int], T]) -> T:
    """``fn(tx, actor, chain_id)`` once the chain's ticket is known to be in scope."""
    chain(tx, actor, chain_id)
    return fn(tx, actor, chain_id)
