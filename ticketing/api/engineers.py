"""Engineer routes: list, create, read (an engineer: only their own record), patch."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ticketing import engineers as E
from ticketing.api.common import EngineerId, role_router, roles, store, strict
from ticketing.auth import STAFF, WORKERS
from ticketing.errors import Forbidden
from ticketing.schemas import EngineerIn, EngineerOut, EngineerPatch
from ticketing.store import Actor

router = role_router(prefix="/engineers", tags=["engineers"])


@router.get("", response_model=list[EngineerOut])
def list_engineers(request: Request, actor: Actor = roles(*STAFF)) -> Any:
    return store(request).read(E.listing)


@router.post("", response_model=EngineerOut, status_code=201)
def create_engineer(
    request: Request,
    body: EngineerIn,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(EngineerIn),
) -> Any:
    return store(request).run(lambda tx: E.create(tx, actor, body.model_dump(mode="json")))


@router.get("/{engineer_id}", response_model=EngineerOut)
def get_engineer(request: Request, engineer_id: EngineerId, actor: Actor = roles(*WORKERS)) -> Any:
    if actor.role == "engineer" and actor.engineer_id != engineer_id:
        raise Forbidden("engineers may read only their own record")
    return store(request).read(lambda tx: E.get(tx, engineer_id))


@router.patch("/{engineer_id}", response_model=EngineerOut)
def patch_engineer(
    request: Request,
    engineer_id: EngineerId,
    body: EngineerPatch,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(EngineerPatch),
) -> Any:
    data = body.model_dump(mode="json", exclude_unset=True)
    return store(request).run(lambda tx: E.patch(tx, actor, engineer_id, data))
