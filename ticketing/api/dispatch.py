"""``POST /tickets/{id}/decline``: the engineer's way to say no to a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from pydantic import StringConstraints

from ticketing import dispatch
from ticketing import tickets as T
from ticketing.api.common import TicketId, role_router, roles, store, strict
from ticketing.auth import ENGINEER
from ticketing.schemas import NO_NUL, In, Storable, TicketOut
from ticketing.store import Actor

router = role_router(prefix="/tickets", tags=["tickets"])


class DeclineIn(In):
    reason: Annotated[str, StringConstraints(max_length=500, pattern=NO_NUL), Storable] = ""


@router.post(
    "/{ticket_id}/decline",
    response_model=TicketOut,
    responses={409: {"description": "already accepted (or not assigned)"}},
)
def decline(
    request: Request,
    ticket_id: TicketId,
    body: DeclineIn,
    actor: Actor = roles(*ENGINEER),
    _strict: None = strict(DeclineIn),
) -> Any:
    """Decline an assigned job: it is routed to someone else (never back to you)."""
    return store(request).run(
        lambda tx: T.out(
            dispatch.decline(tx, actor, T.get_for(tx, actor, ticket_id, lock=True), body.reason)
        )
    )
