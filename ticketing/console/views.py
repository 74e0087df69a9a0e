"""Console pages (GET): board, ticket, fleet, map, KPIs, customer tracking. Reads call the
API's own functions with the API's role sets, so a token sees exactly what it could over the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ticketing import customer, lifecycle, reads
from ticketing import engineers as E
from ticketing import tickets as T
from ticketing.console import data, dispatch, session, svg
from ticketing.console.pages import (
    BOARD_STATES,
    DONE_SHOWN,
    SITE_RE,
    STAFF,
    TRACK_RE,
    current,
    error_page,
    render,
    safe_next,
    sla_due,
    store,
    ticket_ctx,
    ticket_id_of,
)
from ticketing.errors import TicketingError
from ticketing.store import Actor, Tx

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/console/board", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/console/board") -> Response:
    value = session.login_csrf(request)
    resp = render(request, "login.html", None, login_csrf=value, next=safe_next(next))
    session.set_login_csrf(request, resp, value)
    return resp


def _board(request: Request, actor: Actor) -> dict[str, Any]:
    rows = store(request).read(lambda tx: reads.visible(tx, actor, limit=300))
    names = store(request).read(dispatch.names)
    filters = dispatch.board_filters(request)
    rows = dispatch.apply_filters(rows, filters, names)
    order = {p: i for i, p in enumerate(lifecycle.PRIORITIES)}
    columns: dict[str, list[dict[str, Any]]] = {s: [] for s in BOARD_STATES}
    done: list[dict[str, Any]] = []
    for t in rows:
        columns.get(t["state"], done).append(t)
    for col in columns.values():
        col.sort(key=lambda t: (order[t["priority"]], sla_due(t)[1] or t["created_at"]))
    return {
        "columns": columns,
        "done": done[:DONE_SHOWN],
        "engineer_names": names,
        "filters": filters,
        "query": str(request.url.query),
    }


@router.get("/board", response_class=HTMLResponse)
def board(request: Request) -> Response:
    actor = current(request)
    if not isinstance(actor, Actor):
        return actor
    return render(request, "board.html", actor, **_board(request, actor))


@router.get("/board/fragment", response_class=HTMLResponse)
def board_fragment(request: Request) -> Response:
    actor = current(request)
    if not isinstance(actor, Actor):
        return actor
    return render(request, "_board.html", actor, **_board(request, actor))


# ---- ticket ------------------------------------------------------------------------------


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, ticket_id: str, msg: str | None = None) -> Response:
    actor = current(request)
    if not isinstance(actor, Actor):
        return actor
    tid = ticket_id_of(ticket_id)
    if tid is None:
        return error_page(
            request, 404, f"no ticket {ticket_id[:40]!r}: ids are positive numbers", actor
        )
    try:
        ctx = ticket_ctx(request, actor, tid)
    except TicketingError as exc:
        return error_page(request, exc.status, exc.message, actor)
    return render(request, "ticket.html", actor, notice=(msg or "")[:200], **ctx)


@router.get("/tickets/{ticket_id}/status", response_class=HTMLResponse)
def ticket_status(request: Request, ticket_id: str) -> Response:
    """The status card alone, polled by the ticket page (forms are left alone)."""
    actor = current(request)
    if not isinstance(actor, Actor):
        return actor
    tid = ticket_id_of(ticket_id)
    if tid is None:
        return error_page(request, 404, f"no ticket {ticket_id[:40]!r}", actor)

    def fn(tx: Tx) -> dict[str, Any]:
        names = {e["id"]: e["name"] for e in tx.all("select id, name from engineers")}
        return {"t": T.out(T.get_for(tx, actor, tid)), "engineer_names": names}

    try:
        ctx = store(request).read(fn)
    except TicketingError as exc:
        return error_page(request, exc.status, exc.message, actor)
    return render(request, "_status.html", actor, **ctx)


# ---- fleet, map, KPIs --------------------------------------------------------------------


def _fleet(request: Request, site: str | None, template: str) -> Response:
    """The fleet page and its live fragment: same checks, same data, another template."""
    actor = current(request)
    if not isinstance(actor, Actor):
        return actor
    if site and not SITE_RE.match(site):
        return error_page(request, 422, "site: up to 64 letters, digits, '.', '_' or '-'", actor)
    assets = store(request).read(lambda tx: data.fleet(tx, site, scope=actor.sites))
    for a in assets:
        a["sparkline"] = svg.sparkline(a["spark"], svg.HEALTH_COLOURS.get(a["health"], "#1565c0"))
    return render(request, template, actor, assets=assets, site=site, limit=data.FLEET_LIMIT)


@router.get("/fleet", response_class=HTMLResponse)
def fleet(request: Request, site: str | None = None) -> Response:
    return _fleet(request, site, "fleet.html")


@router.get("/fleet/fragment", response_class=HTMLResponse)
def fleet_fragment(request: Request, site: str | None = None) -> Response:
    return _fleet(request, site, "_fleet.html")


@router.get("/map", response_class=HTMLResponse)
def site_map(request: Request) -> Response:
    """Engineers' places follow the API's rules: staff see all, an engineer only themself."""
    actor = current(request)
    if not isinstance(actor, Actor):
        return actor

    def fn(tx: Tx) -> dict[str, Any]:
        assets = data.fleet(tx, None, limit=2000, sparklines=False, scope=actor.sites)
        if actor.role in STAFF:
            engineers = E.listing(tx)
        elif actor.role == "engineer" and actor.engineer_id:
            engineers = [E.get(tx, actor.engineer_id)]
        else:
            engineers = []
        return {"assets": assets, "engineers": engineers}

    ctx = store(request).read(fn)
    return render(
        request, "map.html", actor, map=svg.site_map(ctx["assets"], ctx["engineers"]), **ctx
    )


@router.get("/kpis", response_class=HTMLResponse)
def kpi_page(request: Request) -> Response:
    actor = current(request, STAFF)
    if not isinstance(actor, Actor):
        return actor

    start, end, err = dispatch.date_range(request)

    def fn(tx: Tx) -> dict[str, Any]:
        return {
            **dispatch.kpi_rows(tx, start, end, actor.sites),
            "counts": data.board_counts(tx, None, actor.sites),
        }

    return render(
        request,
        "kpis.html",
        actor,
        status=422 if err else 200,
        error=err,
        priorities=lifecycle.PRIORITIES,
        range={k: request.query_params.get(k, "")[:10] for k in ("start", "end")},
        **store(request).read(fn),
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
        info = store(request).read(lambda tx: customer.track(tx, code))
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
