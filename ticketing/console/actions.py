"""Console form posts: login, logout, and the ticket operations, each through the API's
input models and operations (``ticketing.tickets``) in one transaction, with CSRF checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from ticketing import lifecycle
from ticketing import tickets as T
from ticketing.console import session
from ticketing.console.pages import (
    STAFF,
    WORKERS,
    current,
    error_page,
    render,
    safe_next,
    store,
    ticket_ctx,
    ticket_id_of,
)
from ticketing.errors import Forbidden, TicketingError
from ticketing.schemas import AssignIn, CommentIn, TransitionIn
from ticketing.store import Actor, Tx

router = APIRouter(prefix="/console", include_in_schema=False)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    token: str | None = Form(None),
    name: str | None = Form(None),
    csrf: str | None = Form(None),
    next: str | None = Form(None),
) -> Response:
    value = session.login_csrf(request)

    def again(status: int, message: str) -> Response:
        resp = render(
            request,
            "login.html",
            None,
            status=status,
            login_csrf=value,
            next=safe_next(next),
            message=message,
        )
        session.set_login_csrf(request, resp, value)
        return resp

    if not session.login_csrf_ok(request, csrf):
        return again(403, "the form expired or came from another site; please try again")
    token = (token or "").strip()
    if not token or len(token) > 200:
        return again(422, "paste your API token (from `forewarn tickets token create`)")
    try:
        actor = session.actor_for_token(request, token)
    except session.NotLoggedIn:
        return again(401, "unknown or revoked token")
    if name and name.strip() and name.strip() != actor.name:
        return again(401, "that name does not go with this token")
    resp = RedirectResponse(safe_next(next), status_code=303)
    session.set_session(request, resp, token)
    return resp


@router.post("/logout")
def logout(request: Request, csrf: str | None = Form(None)) -> Response:
    if not session.csrf_ok(request, csrf):
        return error_page(request, 403, "invalid or missing CSRF token")
    resp = RedirectResponse("/console/login", status_code=303)
    session.clear_session(resp)
    return resp


def _act(
    request: Request,
    ticket_id: str,
    csrf: str | None,
    roles: tuple[str, ...],
    build: Callable[[], BaseModel],
    apply: Callable[[Tx, Actor, int, Any], object],
    done: str,
) -> Response:
    """One form post: session, CSRF, role, the API's input model, then the API's operation
    in one transaction. Errors come back as the ticket page with the message and status."""
    actor = current(request)
    if not isinstance(actor, Actor):
        return actor
    tid = ticket_id_of(ticket_id)
    if tid is None:
        return error_page(request, 404, f"no ticket {ticket_id[:40]!r}", actor)
    if not session.csrf_ok(request, csrf):
        return error_page(request, 403, "invalid or missing CSRF token; reload the page", actor)
    status, message = 200, ""
    try:
        if actor.role not in roles:
            raise Forbidden(f"role {actor.role!r} may not do this; needs one of {', '.join(roles)}")
        body = build()
        store(request).run(lambda tx: apply(tx, actor, tid, body))
    except ValidationError as exc:
        status = 422
        message = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors()
        )
    except TicketingError as exc:
        status, message = exc.status, exc.message
    if status == 200:
        return RedirectResponse(f"/console/tickets/{tid}?msg={quote(done)}", status_code=303)
    try:
        ctx = ticket_ctx(request, actor, tid)
    except TicketingError as exc:
        return error_page(request, exc.status, exc.message, actor)
    return render(request, "ticket.html", actor, status=status, error=message, **ctx)


@router.post("/tickets/{ticket_id}/transition", response_class=HTMLResponse)
def ticket_transition(
    request: Request,
    ticket_id: str,
    to: str | None = Form(None),
    resolution_code: str | None = Form(None),
    confirmed_fault_mode: str | None = Form(None),
    note: str | None = Form(None),
    csrf: str | None = Form(None),
) -> Response:
    """The API's transition, from a form: same checks, same state machine, same audit."""

    def build() -> BaseModel:
        return TransitionIn.model_validate(
            {
                "to": to,
                "note": note or None,
                "resolution_code": resolution_code or None,
                "confirmed_fault_mode": confirmed_fault_mode or None,
            }
        )

    def apply(tx: Tx, actor: Actor, tid: int, body: Any) -> object:
        return T.transition(tx, actor, T.get_for(tx, actor, tid, lock=True), body)

    label = lifecycle.PUBLIC_STATE.get(str(to), str(to))
    return _act(request, ticket_id, csrf, WORKERS, build, apply, f"moved to {to} ({label})")


@router.post("/tickets/{ticket_id}/assign", response_class=HTMLResponse)
def ticket_assign(
    request: Request,
    ticket_id: str,
    engineer_id: str | None = Form(None),
    reason: str | None = Form(None),
    csrf: str | None = Form(None),
) -> Response:
    """Manual assignment, as ``POST /tickets/{id}/assign`` (staff; audited, overrides routing)."""

    def build() -> BaseModel:
        return AssignIn.model_validate({"engineer_id": engineer_id, "reason": reason or ""})

    def apply(tx: Tx, actor: Actor, tid: int, body: Any) -> object:
        return T.assign(
            tx,
            actor,
            T.get_for(tx, actor, tid, lock=True),
            body.engineer_id,
            body.reason,
            manual=True,
        )

    return _act(request, ticket_id, csrf, STAFF, build, apply, "assigned")


@router.post("/tickets/{ticket_id}/comment", response_class=HTMLResponse)
def ticket_comment(
    request: Request,
    ticket_id: str,
    body: str | None = Form(None),
    public: str | None = Form(None),
    csrf: str | None = Form(None),
) -> Response:
    """A comment, as ``POST /tickets/{id}/comments``; internal unless marked for the customer."""

    def build() -> BaseModel:
        return CommentIn.model_validate({"body": body or "", "internal": public is None})

    def apply(tx: Tx, actor: Actor, tid: int, data: Any) -> object:
        row = T.get_for(tx, actor, tid, lock=True)
        return T.add_comment(tx, actor, row, data.body, data.internal)

    return _act(request, ticket_id, csrf, WORKERS, build, apply, "comment added")
