"""Console forms for the ticket's priority (staff) and sub-tasks (staff and the assigned
engineer): each goes through the API's input model and operation (``PATCH /tickets/{id}``,
``POST /tickets/{id}/subtasks``, ``PATCH .../subtasks/{sid}``), CSRF-checked, in one
transaction, via ``actions._act`` like the other ticket forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from ticketing import records as R
from ticketing import tickets as T
from ticketing.console.actions import _act
from ticketing.console.pages import STAFF, WORKERS, ticket_id_of
from ticketing.errors import NotFound
from ticketing.schemas import SubtaskIn, SubtaskPatch, TicketPatch
from ticketing.store import Actor, Tx

router = APIRouter(prefix="/console", include_in_schema=False)


@router.post("/tickets/{ticket_id}/priority", response_class=HTMLResponse)
def ticket_priority(
    request: Request,
    ticket_id: str,
    priority: str | None = Form(None),
    csrf: str | None = Form(None),
) -> Response:
    """A new priority, as ``PATCH /tickets/{id}`` (staff; a more urgent one tightens the SLA)."""

    def build() -> BaseModel:
        return TicketPatch.model_validate({"priority": priority or ""})

    def apply(tx: Tx, actor: Actor, tid: int, body: Any) -> object:
        row = T.get_for(tx, actor, tid, lock=True)
        return T.patch(tx, actor, row, body.model_dump(exclude_unset=True))

    return _act(request, ticket_id, csrf, STAFF, build, apply, f"priority {priority}")


@router.post("/tickets/{ticket_id}/subtasks", response_class=HTMLResponse)
def subtask_add(
    request: Request,
    ticket_id: str,
    title: str | None = Form(None),
    csrf: str | None = Form(None),
) -> Response:
    """A sub-task, as ``POST /tickets/{id}/subtasks``."""

    def build() -> BaseModel:
        return SubtaskIn.model_validate({"title": title or ""})

    def apply(tx: Tx, actor: Actor, tid: int, body: Any) -> object:
        return R.add_subtask(tx, actor, T.get_for(tx, actor, tid, lock=True), body.title)

    return _act(request, ticket_id, csrf, WORKERS, build, apply, "sub-task added")


@router.post("/tickets/{ticket_id}/subtasks/{subtask_id}", response_class=HTMLResponse)
def subtask_set(
    request: Request,
    ticket_id: str,
    subtask_id: str,
    done: str | None = Form(None),
    csrf: str | None = Form(None),
) -> Response:
    """Tick or untick a sub-task, as ``PATCH /tickets/{id}/subtasks/{sid}``."""
    sid = ticket_id_of(subtask_id)

    def build() -> BaseModel:
        return SubtaskPatch.model_validate({"done": done})

    def apply(tx: Tx, actor: Actor, tid: int, body: Any) -> object:
        row = T.get_for(tx, actor, tid, lock=True)
        if sid is None:
            raise NotFound("sub-task", subtask_id[:40])
        return R.set_subtask(tx, actor, row, sid, body.done)

    return _act(request, ticket_id, csrf, WORKERS, build, apply, "sub-task updated")
