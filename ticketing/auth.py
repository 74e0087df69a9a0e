"""Bearer tokens (stored as SHA-256 digests) and role checks.

Tokens are 256-bit random strings, so a plain SHA-256 digest is enough to make a leaked
table useless; a slow password hash would only slow every request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any, Literal, get_args

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ticketing.errors import Invalid, NotFound
from ticketing.store import Actor, Store

Role = Literal["admin", "dispatcher", "engineer", "integration"]
ROLES: tuple[str, ...] = get_args(Role)
PREFIX = "fwt_"
bearer = HTTPBearer(auto_error=False, description="a token from `forewarn tickets token create`")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    conn: psycopg.Connection[Any], name: str, role: str, engineer_id: int | None = None
) -> tuple[int, str]:
    """Create a token; return (id, token). The token itself is shown once and never stored."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", role=role)
    if role == "engineer":
        if engineer_id is None:
            raise Invalid("an engineer token needs --engineer <id>")
        if conn.execute("select 1 from engineers where id = %s", (engineer_id,)).fetchone() is None:
            raise NotFound("engineer", engineer_id)
    token = PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "insert into api_tokens (name, role, engineer_id, token_hash) values (%s, %s, %s, %s)"
        " returning id",
        (name, role, engineer_id, hash_token(token)),
    ).fetchone()
    assert row is not None
    return int(row[0] if not isinstance(row, dict) else row["id"]), token


def revoke_token(conn: psycopg.Connection[Any], ident: str) -> int:
    """Revoke by id or name; return how many tokens were revoked."""
    cur = conn.execute(
        "update api_tokens set revoked_at = now() where revoked_at is null and"
        " (id::text = %s or name = %s)",
        (ident, ident),
    )
    if cur.rowcount == 0:
        raise NotFound("active token", ident)
    return cur.rowcount


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
            "select id, name, role, engineer_id from api_tokens"
            " where token_hash = %s and revoked_at is null",
            (hash_token(creds.credentials),),
        )
    )
    if row is None:
        raise _unauthorized("unknown or revoked token")
    return Actor(row["name"], row["role"], row["id"], row["engineer_id"])


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


ANY_ROLE = ROLES
STAFF = ("admin", "dispatcher")
