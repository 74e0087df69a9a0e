"""Shared pieces of the routers: services from app state, idempotent POSTs, id params."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ValidationError

from ticketing.auth import require
from ticketing.errors import Conflict
from ticketing.schemas import MAX_ID
from ticketing.store import Actor, Store, Tx, canonical

TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="ticket id")]
EngineerId = Annotated[int, Path(ge=1, le=MAX_ID, description="engineer id")]
SubtaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="sub-task id")]
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
    """Depends() admitting ``names`` (role lists: :mod:`ticketing.auth`); :class:`RoleRoute`
    documents them in the OpenAPI (``x-roles``), so a route names its roles once."""
    return Depends(require(*names))


def _admitted(dependant: Dependant) -> tuple[str, ...] | None:
    for dep in dependant.dependencies:
        found = getattr(dep.call, "roles", None) or _admitted(dep)
        if found:
            return tuple(found)
    return None


class RoleRoute(APIRoute):
    """A route whose OpenAPI operation lists the roles its :func:`roles` dependency admits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        admitted = _admitted(self.dependant)
        if admitted is not None and "x-roles" not in (self.openapi_extra or {}):
            self.openapi_extra = {**(self.openapi_extra or {}), "x-roles": list(admitted)}


def role_router(**kwargs: Any) -> APIRouter:
    """An APIRouter of :class:`RoleRoute` routes."""
    return APIRouter(route_class=RoleRoute, **kwargs)


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
                "insert into idempotency_keys (key, token_id, request_hash, created_at)"
                " values (%s, %s, %s, %s) on conflict do nothing returning key",
                (key, actor.token_id, digest, tx.now),
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


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def strict(model: type[BaseModel]) -> Any:
    """Depends(): validate the raw JSON body again in strict mode, so ``0`` is no boolean and
    ``"5"`` no number (FastAPI's own validation of the declared body is lax)."""

    async def check(request: Request) -> None:
        raw = await request.body()
        try:
            # JSON Schema's "integer" admits 5.0; strict pydantic does not, so normalise first.
            data = json.loads(raw or b"null", parse_float=_number)
            model.model_validate_json(json.dumps(data), strict=True)
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            for e in errors:
                e.pop("ctx", None)
                e.pop("input", None)
            raise RequestValidationError(errors) from None
        except (ValueError, RecursionError):
            return  # unreadable JSON: FastAPI's own validation already answers it

    return Depends(check)
