"""Ticket routes: create, read, move, assign, and the things attached to a ticket."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from ticketing import reads
from ticketing import records as R
from ticketing import tickets as T
from ticketing.api.common import (
    MAX_ID,
    IdemKey,
    SubtaskId,
    TicketId,
    idempotent,
    role_router,
    roles,
    store,
    strict,
)
from ticketing.auth import ANY_ROLE, CREATORS, STAFF, WORKERS
from ticketing.lifecycle import Priority, Source, State
from ticketing.schemas import (
    AssignIn,
    Attachment,
    AttachmentIn,
    Comment,
    CommentIn,
    CreateResult,
    Subtask,
    SubtaskIn,
    SubtaskPatch,
    TicketCreate,
    TicketDetail,
    TicketOut,
    TicketPatch,
    TimelineEvent,
    TransitionIn,
)
from ticketing.store import Actor, Tx

router = role_router(prefix="/tickets", tags=["tickets"])


@router.post(
    "",
    response_model=CreateResult,
    status_code=201,
    responses={200: {"model": CreateResult, "description": "joined an open predictive ticket"}},
)
def create_ticket(
    request: Request,
    body: TicketCreate,
    idempotency_key: IdemKey = None,
    actor: Actor = roles(*CREATORS),
    _strict: None = strict(TicketCreate),
) -> Any:
    """Open a ticket. A customer report on an asset with an open predictive ticket joins it
    (200, ``linked_to_predictive``) and records that the prediction came first."""

    def fn(tx: Tx) -> tuple[int, Any]:
        row, linked = T.create(tx, actor, body)
        return (200 if linked else 201), {"ticket": T.out(row), "linked_to_predictive": linked}

    return idempotent(request, actor, idempotency_key, body, fn, CreateResult)


@router.get("", response_model=list[TicketOut])
def list_tickets(
    request: Request,
    actor: Actor = roles(*ANY_ROLE),
    state: Annotated[list[State] | None, Query()] = None,
    priority: Priority | None = None,
    source: Source | None = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    asset: Annotated[str | None, Query(max_length=64)] = None,
    engineer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """Tickets, newest first. Engineers get only their own."""
    filters = {
        "states": state,
        "priority": priority,
        "source": source,
        "site": site,
        "asset": asset,
        "engineer_id": engineer_id,
        "open_only": open_only,
        "limit": limit,
        "offset": offset,
    }
    return store(request).read(lambda tx: reads.visible(tx, actor, **filters))


@router.get("/{ticket_id}", response_model=TicketDetail)
def get_ticket(request: Request, ticket_id: TicketId, actor: Actor = roles(*ANY_ROLE)) -> Any:
    return store(request).read(lambda tx: T.detail(tx, T.get_for(tx, actor, ticket_id)))


@router.get("/{ticket_id}/events", response_model=list[TimelineEvent])
def ticket_timeline(
    request: Request,
    ticket_id: TicketId,
    actor: Actor = roles(*WORKERS),
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    after_seq: Annotated[int, Query(ge=0, le=MAX_ID, description="page after this seq")] = 0,
) -> Any:
    """The ticket's audit events, oldest first (page with ``after_seq``)."""
    return store(request).read(
        lambda tx: reads.timeline(tx, actor, ticket_id, after_seq=after_seq, limit=limit)
    )


@router.post(
    "/{ticket_id}/transitions",
    response_model=TicketOut,
    responses={409: {"description": "not allowed from the current state; lists the allowed ones"}},
)
def transition(
    request: Request,
    ticket_id: TicketId,
    body: TransitionIn,
    idempotency_key: IdemKey = None,
    actor: Actor = roles(*WORKERS),
    _strict: None = strict(TransitionIn),
) -> Any:
    """Move the ticket through its lifecycle (409 with ``allowed`` when the move is illegal)."""

    def fn(tx: Tx) -> tuple[int, Any]:
        return 200, T.out(T.transition(tx, actor, T.get_for(tx, actor, ticket_id, lock=True), body))

    return idempotent(request, actor, idempotency_key, body, fn, TicketOut)


@router.post("/{ticket_id}/assign", response_model=TicketOut)
def assign(
    request: Request,
    ticket_id: TicketId,
    body: AssignIn,
    idempotency_key: IdemKey = None,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(AssignIn),
) -> Any:
    """Manual assignment: overrides routing and is audited with its reason."""

    def fn(tx: Tx) -> tuple[int, Any]:
        row = T.get_for(tx, actor, ticket_id, lock=True)
        return 200, T.out(T.assign(tx, actor, row, body.engineer_id, body.reason, manual=True))

    return idempotent(request, actor, idempotency_key, body, fn, TicketOut)


@router.patch("/{ticket_id}", response_model=TicketOut)
def patch_ticket(
    request: Request,
    ticket_id: TicketId,
    body: TicketPatch,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(TicketPatch),
) -> Any:
    return store(request).run(
        lambda tx: T.out(
            T.patch(
                tx,
                actor,
                T.get_for(tx, actor, ticket_id, lock=True),
                body.model_dump(exclude_unset=True),
            )
        )
    )


@router.post(
    "/{ticket_id}/subtasks",
    response_model=Subtask,
    status_code=201,
)
def add_subtask(
    request: Request,
    ticket_id: TicketId,
    body: SubtaskIn,
    idempotency_key: IdemKey = None,
    actor: Actor = roles(*WORKERS),
    _strict: None = strict(SubtaskIn),
) -> Any:
    def fn(tx: Tx) -> tuple[int, Any]:
        return 201, R.add_subtask(tx, actor, T.get_for(tx, actor, ticket_id, lock=True), body.title)

    return idempotent(request, actor, idempotency_key, body, fn, Subtask)


@router.patch("/{ticket_id}/subtasks/{subtask_id}", response_model=Subtask)
def set_subtask(
    request: Request,
    ticket_id: TicketId,
    subtask_id: SubtaskId,
    body: SubtaskPatch,
    actor: Actor = roles(*WORKERS),
    _strict: None = strict(SubtaskPatch),
) -> Any:
    return store(request).run(
        lambda tx: R.set_subtask(
            tx, actor, T.get_for(tx, actor, ticket_id, lock=True), subtask_id, body.done
        )
    )


@router.post(
    "/{ticket_id}/comments",
    response_model=Comment,
    status_code=201,
)
def add_comment(
    request: Request,
    ticket_id: TicketId,
    body: CommentIn,
    idempotency_key: IdemKey = None,
    actor: Actor = roles(*WORKERS),
    _strict: None = strict(CommentIn),
) -> Any:
    def fn(tx: Tx) -> tuple[int, Any]:
        row = T.get_for(tx, actor, ticket_id, lock=True)
        return 201, R.add_comment(tx, actor, row, body.body, body.internal)

    return idempotent(request, actor, idempotency_key, body, fn, Comment)


@router.post(
    "/{ticket_id}/attachments",
    response_model=Attachment,
    status_code=201,
)
def add_attachment(
    request: Request,
    ticket_id: TicketId,
    body: AttachmentIn,
    idempotency_key: IdemKey = None,
    actor: Actor = roles(*WORKERS),
    _strict: None = strict(AttachmentIn),
) -> Any:
    """Attachment metadata (the file itself lives in object storage at ``url``)."""

    def fn(tx: Tx) -> tuple[int, Any]:
        row = T.get_for(tx, actor, ticket_id, lock=True)
        return 201, R.add_attachment(tx, actor, row, body.model_dump())

    return idempotent(request, actor, idempotency_key, body, fn, Attachment)
