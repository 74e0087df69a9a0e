"""What every console page shares: the session check, rendering, error pages, ids,
SLA countdowns and the ticket page's context."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from forewarn.contract.topics import ID_PATTERN
from ticketing import i18n, lifecycle, reads, signoff
from ticketing import tickets as T
from ticketing.auth import STAFF, WORKERS
from ticketing.console import data, session, svg
from ticketing.store import Actor, Row, Store, Tx

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.add_extension("jinja2.ext.i18n")  # {% trans %}; gettext per request (i18n)

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


def store(request: Request) -> Store:
    s: Store = request.app.state.store
    return s


def sla_due(t: dict[str, Any]) -> tuple[str, datetime | None]:
    """Which deadline runs now: response until acknowledged, then resolution."""
    if not lifecycle.is_open(t["state"]):
        return "", None
    if t["state"] == "assigned" and t.get("escalation_due"):  # the escalated-to engineer's own
        return "escalation", t["escalation_due"]
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
    now = store(request).clock.now()
    base = {
        "actor": actor,
        "csrf": session.csrf_token(request) if actor else "",
        "now": now,
        "staff": actor is not None and actor.role in STAFF,
        "countdown": lambda due: countdown(due, now),
        "sla_due": sla_due,
        "public_state": lifecycle.PUBLIC_STATE,
    }
    base |= i18n.context(request)
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


def current(request: Request, roles: tuple[str, ...] | None = None) -> Actor | Response:
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


def ticket_id_of(raw: str) -> int | None:
    """The API's id rule (1..2**62), checked here so bad input gets a page, not JSON."""
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 2**62 else None


def qualified(tx: Tx, row: Row) -> list[dict[str, Any]]:
    """The assign list: engineers routing finds eligible for the ticket (skill for the asset
    class, available, under max load, on shift or on call), best first, with their score."""
    return [
        {"id": c.engineer_id, "name": c.name, "load": c.load, "score": c.score}
        for c in T.rank(tx, row)[0]
        if c.excluded is None
    ]


def ticket_ctx(request: Request, actor: Actor, ticket_id: int) -> dict[str, Any]:
    def fn(tx: Tx) -> dict[str, Any]:
        row = T.get_for(tx, actor, ticket_id)
        detail = T.detail(tx, row)
        window = data.evidence_window(tx, row, detail["evidence"])
        names = {e["id"]: e["name"] for e in tx.all("select id, name from engineers")}
        staff = qualified(tx, row) if actor.role in STAFF else []
        return {"t": detail, "window": window, "engineer_names": names, "engineers": staff}

    ctx = store(request).read(fn)
    ctx["chart"] = svg.evidence_chart(ctx["window"])
    ctx["timeline"] = (
        store(request).read(lambda tx: reads.timeline(tx, actor, ticket_id))
        if actor.role in WORKERS
        else []
    )
    actions = (
        STAFF_ACTIONS if actor.role in STAFF else ENGINEER_ACTIONS if actor.role in WORKERS else {}
    )
    ctx["actions"] = {
        to: label for to, label in actions.items() if to in ctx["t"]["allowed_transitions"]
    }
    ctx["resolution_codes"] = RESOLUTION_CODES
    ctx["assignable"] = lifecycle.ASSIGNABLE
    ctx["signoff"] = store(request).read(lambda tx: signoff.get(tx, ticket_id))
    return ctx


def safe_next(nxt: str | None) -> str:
    if nxt and nxt.startswith("/console/") and "//" not in nxt and "\\" not in nxt:
        return nxt
    return "/console/board"


# ---- board -------------------------------------------------------------------------------
