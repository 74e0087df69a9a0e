"""Job plans, spare parts and the work on a ticket (checklist, parts).

Staff keep the catalogue and attach plans; engineers work their own tickets' checklists
(the same visibility rule as every ticket route).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request

from forewarn.contract.topics import ID_PATTERN
from ticketing import scope
from ticketing import tickets as T
from ticketing.api.common import MAX_ID, TicketId, role_router, roles, store, strict
from ticketing.auth import STAFF, WORKERS
from ticketing.cmms import jobs, parts
from ticketing.cmms.schemas import (
    AttachIn,
    JobPlanIn,
    JobPlanOut,
    PartIn,
    PartOut,
    PartQty,
    ReservationOut,
    StepResultIn,
    StockIn,
    WorkOut,
)
from ticketing.store import Actor, Tx

router = role_router(tags=["work"])
JobPlanId = Annotated[int, Path(ge=1, le=MAX_ID, description="job plan id")]
PartId = Annotated[int, Path(ge=1, le=MAX_ID, description="part id")]
Position = Annotated[int, Path(ge=1, le=10_000, description="checklist step position")]
StoreName = Annotated[str, Path(pattern=ID_PATTERN, description="store id")]


@router.get("/job-plans", response_model=list[JobPlanOut])
def list_job_plans(request: Request, actor: Actor = roles(*WORKERS)) -> Any:
    return store(request).read(jobs.listing)


@router.post("/job-plans", response_model=JobPlanOut, status_code=201)
def create_job_plan(
    request: Request, body: JobPlanIn, actor: Actor = roles(*STAFF), _s: None = strict(JobPlanIn)
) -> Any:
    data = body.model_dump(mode="json")
    return store(request).run(lambda tx: jobs.create(tx, actor, data))


@router.get("/job-plans/{job_plan_id}", response_model=JobPlanOut)
def get_job_plan(request: Request, job_plan_id: JobPlanId, actor: Actor = roles(*WORKERS)) -> Any:
    return store(request).read(lambda tx: jobs.get(tx, job_plan_id))


@router.get("/parts", response_model=list[PartOut])
def list_parts(request: Request, actor: Actor = roles(*WORKERS)) -> Any:
    """The catalogue with stock per store (on hand, reserved, available, reorder point)."""
    return [scope.stock(actor, p) for p in store(request).read(parts.listing)]


@router.post("/parts", response_model=PartOut, status_code=201)
def create_part(
    request: Request, body: PartIn, actor: Actor = roles(*STAFF), _s: None = strict(PartIn)
) -> Any:
    data = body.model_dump(mode="json")
    return store(request).run(lambda tx: parts.create_part(tx, actor, data))


@router.get("/parts/{part_id}", response_model=PartOut)
def get_part(request: Request, part_id: PartId, actor: Actor = roles(*WORKERS)) -> Any:
    return scope.stock(actor, store(request).read(lambda tx: parts.get_part(tx, part_id)))


@router.put("/parts/{part_id}/stock/{store_id}", response_model=PartOut)
def set_stock(
    request: Request,
    part_id: PartId,
    store_id: StoreName,
    body: StockIn,
    actor: Actor = roles(*STAFF),
    _s: None = strict(StockIn),
) -> Any:
    """Count or refill a store; on_hand never below what is reserved (422 naming it)."""
    data = body.model_dump(exclude_none=True)

    def fn(tx: Tx) -> Any:
        scope.store(tx, actor, part_id, store_id, data.get("site"))
        return scope.stock(actor, parts.set_stock(tx, actor, part_id, store_id, data))

    return store(request).run(fn)


@router.get("/tickets/{ticket_id}/work", response_model=WorkOut)
def ticket_work(request: Request, ticket_id: TicketId, actor: Actor = roles(*WORKERS)) -> Any:
    """The job plan, its checklist and the parts (reserved, short, issued) of a ticket."""
    return store(request).read(lambda tx: jobs.work(tx, T.get_for(tx, actor, ticket_id)))


@router.post("/tickets/{ticket_id}/job-plan", response_model=WorkOut)
def attach_job_plan(
    request: Request,
    ticket_id: TicketId,
    body: AttachIn,
    actor: Actor = roles(*STAFF),
    _s: None = strict(AttachIn),
) -> Any:
    """Attach (or swap) a job plan: steps copied, parts reserved at once (short if none)."""

    def fn(tx: Tx) -> Any:
        row = T.get_for(tx, actor, ticket_id, lock=True)
        jobs.attach(tx, actor, row, body.job_plan_id)
        return jobs.work(tx, row)

    return store(request).run(fn)


@router.post(
    "/tickets/{ticket_id}/steps/{position}",
    response_model=WorkOut,
)
def record_step(
    request: Request,
    ticket_id: TicketId,
    position: Position,
    body: StepResultIn,
    actor: Actor = roles(*WORKERS),
    _s: None = strict(StepResultIn),
) -> Any:
    """Pass or fail a checklist step (with its reading); ``follow_up`` on a failed step
    opens a follow-up ticket for the same asset."""
    data = body.model_dump()

    def fn(tx: Tx) -> Any:
        row = T.get_for(tx, actor, ticket_id, lock=True)
        return jobs.record_step(tx, actor, row, position, data)

    return store(request).run(fn)


@router.post(
    "/tickets/{ticket_id}/reservations",
    response_model=ReservationOut,
    status_code=201,
)
def reserve_part(
    request: Request,
    ticket_id: TicketId,
    body: PartQty,
    actor: Actor = roles(*STAFF),
    _s: None = strict(PartQty),
) -> Any:
    """Reserve parts for a ticket; more than any store has is a 409 naming ``qty``."""

    def fn(tx: Tx) -> Any:
        row = T.get_for(tx, actor, ticket_id, lock=True)
        return parts.reserve(tx, actor, row, body.part_id, body.qty, allow_short=False)

    return store(request).run(fn)
