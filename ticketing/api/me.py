"""The caller: who the bearer token says you are."""

from __future__ import annotations

from typing import Any

from ticketing.api.common import role_router, roles
from ticketing.auth import ANY_ROLE
from ticketing.schemas import Me
from ticketing.store import Actor

router = role_router(tags=["auth"])


@router.get("/me", response_model=Me)
def me(actor: Actor = roles(*ANY_ROLE)) -> Any:
    return {
        "name": actor.name,
        "role": actor.role,
        "engineer_id": actor.engineer_id,
        "sites": list(actor.sites) if actor.sites is not None else None,
    }
