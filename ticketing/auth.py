"""Bearer tokens (stored as SHA-256 digests) and role checks.

Tokens are 256-bit random strings, so a plain SHA-256 digest is enough to make a leaked
table useless; a slow password hash would only slow every request.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.rows import dict_row

from ticketing.errors import Forbidden, Invalid, NotFound
from ticketing.store import Actor, Store, Tx

SITE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
Role = Literal["admin", "dispatcher", "engineer", "integration"]
ROLES: tuple[str, ...] = get_args(Role)
PREFIX = "fwt_"
CLI = Actor(f"cli:{getpass.getuser()}", "admin")
T = TypeVar("T")
bearer = HTTPBearer(auto_error=False, description="a token from `forewarn tickets token create`")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def audited(conn: psycopg.Connection[Any], fn: Callable[[Tx], T]) -> T:
    """Run ``fn`` in a transaction with an audit-capable Tx (dict rows) on ``conn``."""
    previous = conn.row_factory
    conn.row_factory = dict_row
    try:
        with conn.transaction():
            return fn(Tx(conn, datetime.now(UTC)))
    finally:
        conn.row_factory = previous


def create_token(
    conn: psycopg.Connection[Any],
    name: str,
    role: str,
    engineer_id: int | None = None,
    actor: Actor = CLI,
    sites: list[str] | None = None,
) -> tuple[int, str]:
    """Create a token; return (id, token). The token itself is shown once and never stored.
    ``sites`` scopes it to those sites (None: every site)."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", role=role)
    if sites is not None:
        sites = sorted(set(sites))
        if not sites or not all(SITE_RE.match(s) for s in sites):
            raise Invalid("sites: one or more site names (letters, digits, '.', '_', '-')")
    token = PREFIX + secrets.token_urlsafe(32)

    def fn(tx: Tx) -> int:
        if role == "engineer":
            if engineer_id is None:
                raise Invalid("an engineer token needs --engineer <id>")
            if tx.one("select 1 from engineers where id = %s", (engineer_id,)) is None:
                raise NotFound("engineer", engineer_id)
        row = tx.one(
            "insert into api_tokens (name, role, engineer_id, token_hash, sites)"
            " values (%s, %s, %s, %s, %s) returning id",
            (name, role, engineer_id, hash_token(token), sites),
        )
        assert row is not None
        tx.audit(
            actor,
            "token_created",
            "token",
            row["id"],
            None,
            {"name": name, "role": role, "engineer_id": engineer_id, "sites": sites},
        )
        return int(row["id"])

    return audited(conn, fn), token


def revoke_token(conn: psycopg.Connection[Any], ident: str, actor: Actor = CLI) -> int:
    """Revoke by id or name; return how many tokens were revoked."""

    def fn(tx: Tx) -> int:
        rows = tx.all(
            "update api_tokens set revoked_at = %s where revoked_at is null and"
            " (id::text = %s or name = %s) returning id, name",
            (tx.now, ident, ident),
        )
        if not rows:
            raise NotFound("active token", ident)
        for r in rows:
            tx.audit(
                actor,
                "token_revoked",
                "token",
                r["id"],
                {"revoked": False},
                {"revoked": True, "name": r["name"]},
            )
        return len(rows)

    return audited(conn, fn)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": "Bearer"})


def current_actor(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Actor:
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
    store: Store = request.app.state.store
    row = store.read(
        lambda tx: tx.one(
            "select id, name, role, engineer_id, sites from api_tokens"
            " where token_hash = %s and revoked_at is null",
            (hash_token(creds.credentials),),
        )
    )
    if row is None:
        raise _unauthorized("unknown or revoked token")
    sites = tuple(row["sites"]) if row["sites"] is not None else None
    return Actor(row["name"], row["role"], row["id"], row["engineer_id"], sites)


def require(*roles: str) -> Callable[..., Actor]:
    """A dependency admitting only ``roles`` (403 for others, 401 without a token)."""

    def check(actor: Actor = Depends(current_actor)) -> Actor:
        if actor.role not in roles:
            raise HTTPException(
                403, detail=f"role {actor.role!r} may not do this; needs one of {', '.join(roles)}"
            )
        return actor

    check.roles = roles  # type: ignore[attr-defined]
    return check


# Who may do what: the role lists every route (and console page) names, declared once.
ANY_ROLE = ROLES
STAFF = ("admin", "dispatcher")
WORKERS = ("admin", "dispatcher", "engineer")  # staff, and engineers on their own tickets
CREATORS = ("admin", "dispatcher", "integration")  # who opens tickets
INTAKE = ("admin", "integration")  # who posts anomaly events
ADMIN = ("admin",)
ENGINEER = ("engineer",)


def require_site(actor: Actor, site: str) -> None:
    """403 when a request names a site outside the token's scope (e.g. an anomaly event)."""
    if not actor.sees(site):
        raise Forbidden(
            f"site: this token is scoped to {', '.join(actor.sites or ())}; not {site!r}",
            site=site,
        )


def require_unscoped(actor: Actor, what: str) -> None:
    """403 for site-scoped tokens on routes whose data spans every site."""
    if actor.sites is not None:
        raise Forbidden(f"a site-scoped token may not {what}")
