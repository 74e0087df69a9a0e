"""The dispatcher's console: board filters, a new-ticket form, CSV exports, KPI date ranges,
and the engineer's Decline button. Every write goes through the API's own functions."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ticketing import customer as C
from ticketing import dispatch, lifecycle, scope
from ticketing import kpis as K
from ticketing import tickets as T
from ticketing.api.dispatch import DeclineIn
from ticketing.console import session
from ticketing.console.pages import STAFF, current, error_page, render, store, ticket_id_of
from ticketing.errors import TicketingError
from ticketing.schemas import TicketCreate
from ticketing.store import Actor, Tx

router = APIRouter(prefix="/console", include_in_schema=False)
FILTERS = ("q", "state", "site", "priority", "engineer")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def board_filters(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip()[:100] for k in FILTERS}


def apply_filters(
    rows: list[dict[str, Any]], f: dict[str, str], names: dict[int, str]
) -> list[dict[str, Any]]:
    """Tickets matching every filter given; ``q`` searches id, title, asset, site, engineer."""
    q = f.get("q", "").lower()
    out = []
    for t in rows:
        if f.get("state") and t["state"] != f["state"]:
            continue
        if f.get("site") and t["site"] != f["site"]:
            continue
        if f.get("priority") and t["priority"] != f["priority"]:
            continue
        if f.get("engineer") and str(t["engineer_id"] or "none") != f["engineer"]:
            continue
        if q:
            hay = " ".join(
                str(x)
                for x in (
                    t["id"],
                    t["title"],
                    t["asset"],
                    t["site"],
                    names.get(t["engineer_id"] or 0, ""),
                )
            ).lower()
            if q.lstrip("#") not in hay:
                continue
        out.append(t)
    return out


def names(tx: Tx) -> dict[int, str]:
    return {e["id"]: e["name"] for e in tx.all("select id, name from engineers order by id")}


def date_range(request: Request) -> tuple[datetime | None, datetime | None, str]:
    """[start, end) from ``start``/``end`` dates (end inclusive as a day); an error text."""
    start_s = request.query_params.get("start", "")
    end_s = request.query_params.get("end", "")
    try:
        start = datetime.fromisoformat(start_s).replace(tzinfo=UTC) if DATE.match(start_s) else None
        end = (
            datetime.fromisoformat(end_s).replace(tzinfo=UTC) + timedelta(days=1)
            if DATE.match(end_s)
            else None
        )
    except ValueError:
        return None, None, "dates are YYYY-MM-DD"
    if (start_s and start is None) or (end_s and end is None):
        return None, None, "dates are YYYY-MM-DD"
    return start, end, ""


def kpi_rows(
    tx: Tx, start: datetime | None, end: datetime | None, sites: tuple[str, ...] | None = None
) -> dict[str, Any]:
    by_engineer = K.kpis(tx, "engineer", sites, start=start, end=end)
    n = names(tx)
    for r in by_engineer:
        if r["group"] and r["group"].isdigit():
            r["group"] = n.get(int(r["group"]), f"#{r['group']}")
    return {
        "csat": C.csat(tx, start, end),
        "overall": K.kpis(tx, "none", sites, start=start, end=end),
        "by_site": K.kpis(tx, "site", sites, start=start, end=end),
        "by_engineer": by_engineer,
    }


def _csv(rows: list[dict[str, Any]], columns: list[str], filename: str) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        # A leading =, +, - or @ would be a formula in a spreadsheet: neutralise it.
        w.writerow(
            [
                ("'" + v if isinstance(v, str) and v[:1] in "=+-@" else v)
                for v in (r.get(c) for c in columns)
            ]
        )
    return Response(
        "\ufeff" + buf.getvalue(),  # a BOM so Excel reads UTF-8 (Chinese) correctly
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


TICKET_COLUMNS = [
    "id",
    "state",
    "priority",
    "source",
    "site",
    "asset",
    "title",
    "engineer",
    "created_at",
    "acknowledged_at",
    "resolved_at",
    "response_due",
    "resolution_due",
    "escalations",
    "resolution_code",
]


@router.get("/tickets.csv")
def tickets_csv(request: Request) -> Response:
    actor = current(request, STAFF)
    if not isinstance(actor, Actor):
        return actor

    def fn(tx: Tx) -> list[dict[str, Any]]:
        n = names(tx)
        rows = tx.all(
            "select * from tickets where (%(s)s::text[] is null or site = any(%(s)s))"
            " order by id desc limit 10000",
            {"s": list(actor.sites) if actor.sites is not None else None},
        )
        rows = apply_filters(rows, board_filters(request), n)
        return [{**r, "engineer": n.get(r["engineer_id"] or 0, "")} for r in rows]

    return _csv(store(request).read(fn), TICKET_COLUMNS, "tickets.csv")


@router.get("/kpis.csv")
def kpis_csv(request: Request) -> Response:
    actor = current(request, STAFF)
    if not isinstance(actor, Actor):
        return actor
    start, end, err = date_range(request)
    if err:
        return error_page(request, 422, err, actor)
    data = store(request).read(lambda tx: kpi_rows(tx, start, end, actor.sites))
    rows = [{"grouping": g, **r} for g in ("overall", "by_site", "by_engineer") for r in data[g]]
    cols = ["grouping", "group", *[k for k in (data["overall"] or [{}])[0] if k != "group"]]
    if len(cols) == 2:
        cols += ["tickets"]
    return _csv(rows, cols, "kpis.csv")


# ---- new ticket -----------------------------------------------------------------------------


def _assets(tx: Tx) -> list[dict[str, Any]]:
    return tx.all("select asset, site from assets order by asset limit 5000")


@router.get("/new-ticket", response_class=HTMLResponse)
def new_ticket_form(request: Request) -> Response:
    actor = current(request, STAFF)
    if not isinstance(actor, Actor):
        return actor
    assets = scope.rows(actor, store(request).read(_assets))
    return render(
        request, "new_ticket.html", actor, assets=assets, form={}, priorities=lifecycle.PRIORITIES
    )


@router.post("/new-ticket", response_class=HTMLResponse)
def new_ticket(
    request: Request,
    asset: str = Form(""),
    title: str = Form(""),
    description: str = Form(""),
    priority: str = Form("P2"),
    source: str = Form("manual"),
    contact: str = Form(""),
    csrf: str | None = Form(None),
) -> Response:
    actor = current(request, STAFF)
    if not isinstance(actor, Actor):
        return actor
    if not session.csrf_ok(request, csrf):
        return error_page(request, 403, "invalid or missing CSRF token; reload the page", actor)
    form = {
        "asset": asset,
        "title": title,
        "description": description,
        "priority": priority,
        "source": source,
        "contact": contact,
    }
    try:
        body = TicketCreate.model_validate({**form, "contact": contact or None})
        row, _ = store(request).run(lambda tx: T.create(tx, actor, body))
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _again(request, actor, form, msg, 422)
    except TicketingError as exc:
        return _again(request, actor, form, exc.message, exc.status)
    return RedirectResponse(f"/console/tickets/{row['id']}?msg=created", status_code=303)


def _again(
    request: Request, actor: Actor, form: dict[str, str], error: str, status: int
) -> Response:
    assets = scope.rows(actor, store(request).read(_assets))
    return render(
        request,
        "new_ticket.html",
        actor,
        status=status,
        error=error,
        assets=assets,
        form=form,
        priorities=lifecycle.PRIORITIES,
    )


# ---- decline --------------------------------------------------------------------------------


@router.post("/tickets/{ticket_id}/decline", response_class=HTMLResponse)
def decline(
    request: Request, ticket_id: str, reason: str | None = Form(None), csrf: str | None = Form(None)
) -> Response:
    """The engineer says no: back to the board, the job goes to someone else."""
    actor = current(request, ("engineer",))
    if not isinstance(actor, Actor):
        return actor
    tid = ticket_id_of(ticket_id)
    if tid is None:
        return error_page(request, 404, "no such ticket", actor)
    if not session.csrf_ok(request, csrf):
        return error_page(request, 403, "invalid or missing CSRF token; reload the page", actor)
    try:
        body = DeclineIn.model_validate({"reason": (reason or "").strip()})
        store(request).run(
            lambda tx: dispatch.decline(
                tx, actor, T.get_for(tx, actor, tid, lock=True), body.reason
            )
        )
    except ValidationError as exc:
        return error_page(request, 422, f"reason: {exc.errors()[0]['msg']}", actor)
    except TicketingError as exc:
        return error_page(request, exc.status, exc.message, actor)
    return RedirectResponse("/console/board", status_code=303)
