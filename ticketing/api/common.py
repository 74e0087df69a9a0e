"""Shared pieces of the routers: services from app state, idempotent POSTs, id params."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from ticketing.auth import require
from ticketing.errors import Conflict
from ticketing.store import Actor, Store, Tx, canonical

MAX_ID = 2**62
TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="ticket id")]
EngineerId = Annotated[int, Path(ge=1, le=MAX_ID, description="engineer id")]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="repeat a POST safely: the same key and body return the first answer",
    ),
]


def store(request: Request) -> Store:
    s: Store = request.app.state.store
    return s


def roles(*names: str) -> Any:
    """Depends() for the route, and the roles in the OpenAPI (``x-roles``)."""
    return Depends(require(*names))


def role_extra(*names: str) -> dict[str, Any]:
    return {"x-roles": list(names)}


def idempotent(
    request: Request,
    actor: Actor,
    key: str | None,
    body: BaseModel | None,
    fn: Callable[[Tx], tuple[int, Any]],
    model: type[BaseModel],
) -> JSONResponse:
    """Run ``fn`` once per (token, Idempotency-Key); a replay returns the stored answer."""
    digest = hashlib.sha256(
        (
            request.method
            + request.url.path
            + canonical(body.model_dump(mode="json") if body else None)
        ).encode()
    ).hexdigest()

    def work(tx: Tx) -> tuple[int, Any, bool]:
        if key is not None and actor.token_id is not None:
            got = tx.one(
                "insert into idempotency_keys (key, token_id, request_hash) values (%s, %s, %s)"
                " on conflict do nothing returning key",
                (key, actor.token_id, digest),
            )
            if got is None:
                prior = tx.one(
                    "select request_hash, status, response from idempotency_keys"
                    " where token_id = %s and key = %s",
                    (actor.token_id, key),
                )
                assert prior is not None
                if prior["request_hash"] != digest:
                    raise Conflict(
                        f"Idempotency-Key {key!r} was already used for a different request",
                        key=key,
                    )
                return prior["status"], prior["response"], True
        status, result = fn(tx)
        payload = model.model_validate(result).model_dump(mode="json")
        if key is not None and actor.token_id is not None:
            tx.conn.execute(
                "update idempotency_keys set status = %s, response = %s"
                " where token_id = %s and key = %s",
                (status, Jsonb(payload), actor.token_id, key),
            )
        return status, payload, False

    status, payload, replay = store(request).run(work)
    headers = {"Idempotent-Replayed": "true"} if replay else None
    return JSONResponse(payload, status_code=status, headers=headers)
