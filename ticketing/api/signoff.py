"""Customer sign-off routes: the public form on the tracking page, and the staff side (the
sign-off as JSON and its signature PNG, API token or console session)."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from ticketing import customer as C
from ticketing import signoff as S
from ticketing import tickets as T
from ticketing.api import customer as CA
from ticketing.api.common import TicketId, role_router, roles, store
from ticketing.auth import WORKERS
from ticketing.console import pages, session
from ticketing.errors import NotFound, TicketingError
from ticketing.store import Actor, Tx

public = APIRouter(prefix="/customer", include_in_schema=False)
console = APIRouter(prefix="/console", include_in_schema=False)
router = role_router(prefix="/tickets", tags=["tickets"])
PNG_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"}


@public.post("/track/{code}/signoff", response_class=HTMLResponse)
async def customer_signoff(request: Request, code: str) -> Response:
    """Name + tick and/or a drawn signature; 413/415/422 with the field, 409 before resolution."""
    try:
        c = CA._code(code)
        form = await CA._form(request, S.form_cap(CA._cfg(request).max_form_bytes))
        name, satisfied, png = S.parse(form)
        client, per_hour = CA._client(request), CA._cfg(request).replies_per_hour
        store(request).run(lambda tx: S.sign(tx, c, name, satisfied, png, client, per_hour))
    except TicketingError as exc:
        info = None
        with contextlib.suppress(TicketingError):
            info = store(request).read(lambda tx: C.view(tx, CA._code(code)))
        return CA._failure(request, exc, "customer_track.html", info=info)
    return RedirectResponse(f"/customer/track/{c}?thanks=1", status_code=303)


class SignoffOut(BaseModel):
    ticket_id: int
    name: str
    satisfied: bool
    signed: bool
    signature_sha256: str | None
    created_at: Any


def _read(request: Request, actor: Actor, ticket_id: int) -> dict[str, Any]:
    def fn(tx: Tx) -> dict[str, Any]:
        T.get_for(tx, actor, ticket_id)
        found = S.get(tx, ticket_id)
        if found is None:
            raise NotFound("sign-off of ticket", ticket_id)
        return found

    return store(request).read(fn)


def _png(request: Request, actor: Actor, ticket_id: int) -> Response:
    def fn(tx: Tx) -> bytes:
        T.get_for(tx, actor, ticket_id)
        data = S.image(tx, ticket_id)
        if data is None:
            raise NotFound("signature of ticket", ticket_id)
        return data

    return Response(store(request).read(fn), media_type="image/png", headers=PNG_HEADERS)


@router.get("/{ticket_id}/signoff", response_model=SignoffOut)
def get_signoff(request: Request, ticket_id: TicketId, actor: Actor = roles(*WORKERS)) -> Any:
    """The customer's sign-off of the work (404 until there is one)."""
    return _read(request, actor, ticket_id)


@router.get(
    "/{ticket_id}/signoff/signature.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the drawn signature"}},
)
def signature(request: Request, ticket_id: TicketId, actor: Actor = roles(*WORKERS)) -> Response:
    return _png(request, actor, ticket_id)


@console.post("/tickets/{ticket_id}/signoff", response_class=HTMLResponse)
async def console_signoff(request: Request, ticket_id: str) -> Response:
    """The customer signs on the engineer's phone (a queued offline form, too): same checks
    as the tracking page, recorded with the engineer as the actor; CSRF-checked."""
    actor = pages.current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    tid = pages.ticket_id_of(ticket_id)
    try:
        if tid is None:
            raise NotFound("ticket", ticket_id[:40])
        # urlencoded from the page, multipart from the offline queue (FormData); the app's
        # body limit caps its size, the signature's own cap applies in parse
        raw = await request.form()
        form = {k: v for k, v in raw.items() if isinstance(v, str)}
        if not session.csrf_ok(request, form.get("csrf")):
            return pages.error_page(request, 403, "the form expired; reload the page", actor)
        name, satisfied, png = S.parse(form)

        def fn(tx: Tx) -> object:
            return S.record(tx, T.get_for(tx, actor, tid, lock=True), name, satisfied, png, actor)

        store(request).run(fn)
    except TicketingError as exc:
        return pages.error_page(request, exc.status, exc.message, actor)
    return RedirectResponse(f"/console/tickets/{tid}#signoff", status_code=303)


@console.get("/tickets/{ticket_id}/signature.png")
def console_signature(request: Request, ticket_id: str) -> Response:
    actor = pages.current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    tid = pages.ticket_id_of(ticket_id)
    try:
        if tid is None:
            raise NotFound("ticket", ticket_id[:40])
        return _png(request, actor, tid)
    except TicketingError as exc:
        return pages.error_page(request, exc.status, exc.message, actor)
