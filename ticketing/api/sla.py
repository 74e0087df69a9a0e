"""SLA policy routes: list, and set one (for a site, or the default ``*``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from ticketing import policies
from ticketing.api.common import role_router, roles, store, strict
from ticketing.auth import ADMIN, STAFF, require_site, require_unscoped
from ticketing.lifecycle import Priority
from ticketing.schemas import SlaPolicy, SlaPolicyOut
from ticketing.store import Actor

router = role_router(prefix="/sla/policies", tags=["sla"])
SiteOrAll = Annotated[
    str,
    Query(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$", description="a site, or * for all"),
]


@router.get("", response_model=list[SlaPolicyOut])
def sla_policies(request: Request, actor: Actor = roles(*STAFF)) -> Any:
    return store(request).read(lambda tx: policies.listing(tx, actor))


@router.put("/{priority}", response_model=SlaPolicyOut)
def put_sla_policy(
    request: Request,
    priority: Priority,
    body: SlaPolicy,
    actor: Actor = roles(*ADMIN),
    site: SiteOrAll = "*",
    _strict: None = strict(SlaPolicy),
) -> Any:
    """Set a policy (for one site, or the default ``*``); it applies to tickets opened (or
    re-prioritised) from now on."""
    if site == "*":
        require_unscoped(actor, "set the default (all-site) policy")
    else:
        require_site(actor, site)
    return store(request).run(lambda tx: policies.put(tx, actor, priority, site, body))
