"""Console routes. Reads and writes call the API's own functions (``ticketing.tickets``,
the API route functions, ``kpis``, ``engineers``) with the same role sets, so the console
can do exactly what the holder of its token could do over the API, and no more."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from forewarn.contract.topics import ID_PATTERN
from ticketing import engineers as E
from ticketing import kpis as K
from ticketing import lifecycle
from ticketing import tickets as T
from ticketing.api import other as api_other
from ticketing.api import tickets as api_tickets
from ticketing.console import data, session, svg
from ticketing.errors import Forbidden, TicketingError
from ticketing.schemas import AssignIn, CommentIn, TransitionIn
from ticketing.store import Actor, Store, Tx

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)

WORKERS = api_tickets.WORKERS
STAFF = api_tickets.STAFF
BOARD_STATES = ("new", "assigned", "accepted", "en_route", "on_site", "waiting_parts")
DONE_SHOWN = 12
ENGINEER_ACTIONS = {
    "accepted": "Accept",
    "en_route": "En route",
    "on_site": "On site",
    "waiting_parts": "Waiting for parts",
    "resolved": "Resolve",
}
STAFF_ACTIONS = {**ENGINEER_ACTIONS, "closed": "Close", "cancelled": "Cancel", "new": "Unassign"}
RESOLUTION_CODES = ("confirmed", "fixed", "no_fault_found")
TRACK_RE = re.compile(r"^[A-Z2-9]{10}$")
SITE_RE = re.compile(ID_PATTERN)


def _store(request: Request) -> Store:
    s: Store = request.app.state.store
    return s


def sla_due(t: dict[str, Any]) -> tuple[str, datetime | None]:
    """Which deadline runs now: response until acknowledged, then resolution."""
    if not lifecycle.is_open(t["state"]):
        return "", None
    if t.get("acknowledged_at") is None and t.get("response_due"):
        return "response", t["response_due"]
    return "resolution", t.get("resolution_due")


def countdown(due: datetime | None, now: datetime) -> str:
    if due is None:
        return ""
    secs = int((due - now).total_seconds())
    sign, secs = ("overdue " if secs < 0 else "in "), abs(secs)
    h, m = divmod(secs // 60, 60)
    return f"{sign}{h}h {m:02d}m" if h else f"{sign}{m}m {secs % 60:02d}s"


def render(
    request: Request, name: str, actor: Actor | None, status: int = 200, **ctx: Any
) -> HTMLResponse:
    now = _store(request).clock.now()
    base = {
        "actor": actor,
        "csrf": session.csrf_token(request) if actor else "",
        "now": now,
        "staff": actor is not None and actor.role in STAFF,
        "countdown": lambda due: countdown(due, now),
        "sla_due": sla_due,
        "public_state": lifecycle.PUBLIC_STATE,
    }
    return templates.TemplateResponse(request, name, base | ctx, status_code=status)


def error_page(
    request: Request, status: int, message: str, actor: Actor | None = None
) -> HTMLResponse:
    return render(request, "error.html", actor, status=status, status_code=status, message=message)


def _login_redirect(request: Request) -> Response:
    if request.headers.get("x-console-fragment"):
        return error_page(request, 401, "your session ended; please log in again")
    nxt = quote(request.url.path)
    return RedirectResponse(f"/console/login?next={nxt}", status_code=303)


def _actor(request: Request, roles: tuple[str, ...] | None = None) -> Actor | Response:
    try:
        actor = session.session_actor(request)
    except session.NotLoggedIn:
        return _login_redirect(request)
    if roles is not None and actor.role not in roles:
        return error_page(
            request,
            403,
            f"role {actor.role!r} may not see this; needs one of {', '.join(roles)}",
            actor,
        )
    return actor


def _ticket_id(raw: str) -> int | None:
    """The API's id rule (1..2**62), checked here so bad input gets a page, not JSON."""
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 2**62 else None


# ---- login -------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/console/board", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/console/board") -> Response:
    value = session.login_csrf(request)
    resp = render(request, "login.html", None, login_csrf=value, next=_safe_next(next))
    session.set_login_csrf(request, resp, value)
    return resp


def _safe_next(nxt: str | None) -> str:
    if nxt and nxt.startswith("/console/") and "//" not in nxt and "\\" not in nxt:
        return nxt
    return "/console/board"


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
            next=_safe_next(next),
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
    resp = RedirectResponse(_safe_next(next), status_code=303)
    session.set_session(request, resp, token)
    return resp


@router.post("/logout")
def logout(request: Request, csrf: str | None = Form(None)) -> Response:
    if not session.csrf_ok(request, csrf):
        return error_page(request, 403, "invalid or missing CSRF token")
    resp = RedirectResponse("/console/login", status_code=303)
    session.clear_session(resp)
    return resp


# ---- board -------------------------------------------------------------------------------


def _board(request: Request, actor: Actor) -> dict[str, Any]:
    rows = api_tickets.list_tickets(
        request,
        actor,
        state=None,
        priority=None,
        source=None,
        site=None,
        asset=None,
        engineer_id=None,
        open_only=False,
        limit=300,
        offset=0,
    )
    order = {p: i for i, p in enumerate(lifecycle.PRIORITIES)}
    columns: dict[str, list[dict[str, Any]]] = {s: [] for s in BOARD_STATES}
    done: list[dict[str, Any]] = []
    for t in rows:
        columns.get(t["state"], done).append(t)
    for col in columns.values():
        col.sort(key=lambda t: (order[t["priority"]], sla_due(t)[1] or t["created_at"]))
    return {"columns": columns, "done": done[:DONE_SHOWN]}


@router.get("/board", response_class=HTMLResponse)
def board(request: Request) -> Response:
    actor = _actor(request)
    if not isinstance(actor, Actor):
        return actor
    return render(request, "board.html", actor, **_board(request, actor))


@router.get("/board/fragment", response_class=HTMLResponse)
def board_fragment(request: Request) -> Response:
    actor = _actor(request)
    if not isinstance(actor, Actor):
        return actor
    return render(request, "_board.html", actor, **_board(request, actor))


# ---- ticket ------------------------------------------------------------------------------


def _ticket_ctx(request: Request, actor: Actor, ticket_id: int) -> dict[str, Any]:
    def fn(tx: Tx) -> dict[str, Any]:
        row = T.get_for(tx, actor, ticket_id)
        detail = T.detail(tx, row)
        window = data.evidence_window(tx, row, detail["evidence"])
        names = {e["id"]: e["name"] for e in tx.all("select id, name from engineers")}
        staff = E.listing(tx) if actor.role in STAFF else []
        return {"t": detail, "window": window, "engineer_names": names, "engineers": staff}

    ctx = _store(request).read(fn)
    ctx["chart"] = svg.evidence_chart(ctx["window"])
    ctx["timeline"] = (
        api_tickets.ticket_timeline(request, ticket_id, actor) if actor.role in WORKERS else []
    )
    actions = (
        STAFF_ACTIONS if actor.role in STAFF else ENGINEER_ACTIONS if actor.role in WORKERS else {}
    )
    ctx["actions"] = {
        to: label for to, label in actions.items() if to in ctx["t"]["allowed_transitions"]
    }
    ctx["resolution_codes"] = RESOLUTION_CODES
    ctx["assignable"] = lifecycle.ASSIGNABLE
    return ctx


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, ticket_id: str, msg: str | None = None) -> Response:
    actor = _actor(request)
    if not isinstance(actor, Actor):
        return actor
    tid = _ticket_id(ticket_id)
    if tid is None:
        return error_page(
            request, 404, f"no ticket {ticket_id[:40]!r}: ids are positive numbers", actor
        )
    try:
        ctx = _ticket_ctx(request, actor, tid)
    except TicketingError as exc:
        return error_page(request, exc.status, exc.message, actor)
    return render(request, "ticket.html", actor, notice=(msg or "")[:200], **ctx)


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
    actor = _actor(request)
    if not isinstance(actor, Actor):
        return actor
    tid = _ticket_id(ticket_id)
    if tid is None:
        return error_page(request, 404, f"no ticket {ticket_id[:40]!r}", actor)
    if not session.csrf_ok(request, csrf):
        return error_page(request, 403, "invalid or missing CSRF token; reload the page", actor)
    status, message = 200, ""
    try:
        if actor.role not in roles:
            raise Forbidden(f"role {actor.role!r} may not do this; needs one of {', '.join(roles)}")
        body = build()
        _store(request).run(lambda tx: apply(tx, actor, tid, body))
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
        ctx = _ticket_ctx(request, actor, tid)
    except TicketingError as exc:
        return error_page(request, exc.status, exc.message, actor)
    return render(request, "ticket.html", actor, status=status, error=message, **ctx)


@router.get("/tickets/{ticket_id}/status", response_class=HTMLResponse)
def ticket_status(request: Request, ticket_id: str) -> Response:
    """The status card alone, polled by the ticket page (forms are left alone)."""
    actor = _actor(request)
    if not isinstance(actor, Actor):
        return actor
    tid = _ticket_id(ticket_id)
    if tid is None:
        return error_page(request, 404, f"no ticket {ticket_id[:40]!r}", actor)

    def fn(tx: Tx) -> dict[str, Any]:
        names = {e["id"]: e["name"] for e in tx.all("select id, name from engineers")}
        return {"t": T.out(T.get_for(tx, actor, tid)), "engineer_names": names}

    try:
        ctx = _store(request).read(fn)
    except TicketingError as exc:
        return error_page(request, exc.status, exc.message, actor)
    return render(request, "_status.html", actor, **ctx)


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
            tx, actor, T.get(tx, tid, lock=True), body.engineer_id, body.reason, manual=True
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


# ---- fleet, map, KPIs --------------------------------------------------------------------


def _fleet(request: Request, site: str | None) -> dict[str, Any]:
    assets = _store(request).read(lambda tx: data.fleet(tx, site))
    for a in assets:
        a["sparkline"] = svg.sparkline(a["spark"], svg.HEALTH_COLOURS.get(a["health"], "#1565c0"))
    return {"assets": assets, "site": site, "limit": data.FLEET_LIMIT}


@router.get("/fleet", response_class=HTMLResponse)
def fleet(request: Request, site: str | None = None) -> Response:
    actor = _actor(request)
    if not isinstance(actor, Actor):
        return actor
    if site and not SITE_RE.match(site):
        return error_page(request, 422, "site: up to 64 letters, digits, '.', '_' or '-'", actor)
    return render(request, "fleet.html", actor, **_fleet(request, site))


@router.get("/fleet/fragment", response_class=HTMLResponse)
def fleet_fragment(request: Request, site: str | None = None) -> Response:
    actor = _actor(request)
    if not isinstance(actor, Actor):
        return actor
    if site and not SITE_RE.match(site):
        return error_page(request, 422, "site: up to 64 letters, digits, '.', '_' or '-'", actor)
    return render(request, "_fleet.html", actor, **_fleet(request, site))


@router.get("/map", response_class=HTMLResponse)
def site_map(request: Request) -> Response:
    """Engineers' places follow the API's rules: staff see all, an engineer only themself."""
    actor = _actor(request)
    if not isinstance(actor, Actor):
        return actor

    def fn(tx: Tx) -> dict[str, Any]:
        assets = data.fleet(tx, None, limit=2000, sparklines=False)
        if actor.role in STAFF:
            engineers = E.listing(tx)
        elif actor.role == "engineer" and actor.engineer_id:
            engineers = [E.get(tx, actor.engineer_id)]
        else:
            engineers = []
        return {"assets": assets, "engineers": engineers}

    ctx = _store(request).read(fn)
    return render(
        request, "map.html", actor, map=svg.site_map(ctx["assets"], ctx["engineers"]), **ctx
    )


@router.get("/kpis", response_class=HTMLResponse)
def kpi_page(request: Request) -> Response:
    actor = _actor(request, STAFF)
    if not isinstance(actor, Actor):
        return actor

    def fn(tx: Tx) -> dict[str, Any]:
        return {
            "overall": K.kpis(tx, "none"),
            "by_site": K.kpis(tx, "site"),
            "by_engineer": K.kpis(tx, "engineer"),
            "counts": data.board_counts(tx, None),
        }

    return render(
        request, "kpis.html", actor, priorities=lifecycle.PRIORITIES, **_store(request).read(fn)
    )


# ---- customer tracking (public) ----------------------------------------------------------


@router.get("/track", response_class=HTMLResponse)
def track_form(request: Request, code: str | None = None) -> Response:
    if code:
        code = code.strip().upper()
        if TRACK_RE.match(code):
            return RedirectResponse(f"/console/track/{code}", status_code=303)
        return render(
            request,
            "track.html",
            None,
            status=422,
            message="a tracking code is 10 letters and digits",
            code=code[:20],
        )
    return render(request, "track.html", None)


@router.get("/track/{code}", response_class=HTMLResponse)
def track(request: Request, code: str) -> Response:
    """Only what the public API's ``/track`` returns: status, its history, public messages."""
    code = code.strip().upper()
    if not TRACK_RE.match(code):
        return render(
            request,
            "track.html",
            None,
            status=422,
            message="a tracking code is 10 letters and digits",
            code=code[:20],
        )
    try:
        info = api_other.track(request, code)
    except TicketingError as exc:
        return render(
            request,
            "track.html",
            None,
            status=exc.status,
            message="no job with this tracking code",
            code=code,
        )
    return render(request, "track.html", None, info=info, code=code)
