"""Console pages of the maintenance features: the asset register (list, new, page with its
history and an edit form). They use the console's session, CSRF and rendering, and the same
operations and role sets as the API, in one transaction each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, FileSystemLoader
from pydantic import ValidationError

from forewarn.contract.topics import ID_PATTERN
from ticketing import lifecycle, scope
from ticketing.auth import STAFF, WORKERS
from ticketing.cmms import assets as A
from ticketing.cmms.schemas import AssetIn, AssetPatch
from ticketing.console import pages, session
from ticketing.errors import Forbidden, TicketingError
from ticketing.store import Actor

router = APIRouter(prefix="/console", include_in_schema=False)
HERE = Path(__file__).parent
EDITABLE = ("site", *A.FIELDS)


def install_templates() -> None:
    """Let the console's renderer find this package's templates (named ``cmms_*``)."""
    env = pages.templates.env
    if not isinstance(env.loader, ChoiceLoader):
        assert env.loader is not None
        env.loader = ChoiceLoader([env.loader, FileSystemLoader(HERE / "templates")])


def _form_data(form: Any) -> dict[str, Any]:
    """Form fields to the API's model input: blanks clear, numbers parse, documents are
    one "title | url" per line."""
    out: dict[str, Any] = {}
    for key in ("asset", *EDITABLE):
        if key not in form:
            continue
        value = str(form[key]).strip()
        if key == "documents":
            docs = []
            for line in value.splitlines():
                if line.strip():
                    title, _, url = line.partition("|")
                    docs.append({"title": title.strip(), "url": url.strip()})
            out[key] = docs
        elif key in ("lat", "lon"):
            out[key] = float(value) if _is_number(value) else (value or None)
        else:
            out[key] = value or None
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors())


@router.get("/assets", response_class=HTMLResponse)
def register(request: Request, site: str | None = None, status: str | None = None) -> Response:
    actor = pages.current(request)
    if not isinstance(actor, Actor):
        return actor
    site = site if site and re.match(ID_PATTERN, site) else None
    status = status if status in ("draft", "active", "inactive", "retired") else None
    rows = scope.rows(actor, pages.store(request).read(lambda tx: A.listing(tx, site, status)))
    return pages.render(request, "cmms_assets.html", actor, assets=rows, site=site)


@router.post("/assets", response_class=HTMLResponse)
async def create(request: Request) -> Response:
    actor = pages.current(request)
    if not isinstance(actor, Actor):
        return actor
    form = await request.form()
    if not session.csrf_ok(request, str(form.get("csrf") or "")):
        return pages.error_page(request, 403, "invalid or missing CSRF token; reload", actor)
    try:
        if actor.role not in STAFF:
            raise Forbidden(f"role {actor.role!r} may not edit the asset register")
        data = AssetIn.model_validate(_form_data(form)).model_dump(mode="json", exclude_unset=True)
        scope.site_param(actor, data.get("site"))
        row = pages.store(request).run(lambda tx: A.create(tx, actor, data))
    except ValidationError as exc:
        return _register_error(request, actor, 422, _errors(exc))
    except TicketingError as exc:
        return _register_error(request, actor, exc.status, exc.message)
    return RedirectResponse(
        f"/console/assets/{row['asset']}?msg={quote('asset created')}", status_code=303
    )


def _register_error(request: Request, actor: Actor, status: int, message: str) -> Response:
    rows = scope.rows(actor, pages.store(request).read(lambda tx: A.listing(tx)))
    return pages.render(
        request, "cmms_assets.html", actor, status=status, error=message, assets=rows
    )


@router.get("/assets/{asset}", response_class=HTMLResponse)
def asset_page(request: Request, asset: str, msg: str | None = None) -> Response:
    actor = pages.current(request)
    if not isinstance(actor, Actor):
        return actor
    return _asset_page(request, actor, asset, notice=msg)


def _asset_page(
    request: Request, actor: Actor, asset: str, status: int = 200, **ctx: Any
) -> Response:
    try:
        h = pages.store(request).read(
            lambda tx: scope.asset_then(tx, actor, asset, A.history, tx, asset)
        )
    except TicketingError as exc:
        return pages.error_page(request, exc.status, exc.message, actor)
    return pages.render(
        request,
        "cmms_asset.html",
        actor,
        status=status,
        h=h,
        a=h["asset"],
        health=_health(h, pages.store(request).clock.now()),
        **ctx,
    )


def _health(h: dict[str, Any], now: Any) -> str:
    """The fleet view's health rule (``console.data.health``) from the asset's history."""
    from ticketing.console import data

    open_prios = [t["priority"] for t in h["tickets"] if lifecycle.is_open(t["state"])]
    last = h["anomalies"][0] if h["anomalies"] else None
    return data.health(
        {
            "top_priority": min(open_prios) if open_prios else None,
            "open_tickets": len(open_prios),
            "anomaly_at": last["time"] if last else None,
            "anomaly_severity": last["severity"] if last else None,
            "last_seen": h["asset"]["last_seen"],
        },
        now,
    )


@router.post("/assets/{asset}", response_class=HTMLResponse)
async def edit(request: Request, asset: str) -> Response:
    actor = pages.current(request)
    if not isinstance(actor, Actor):
        return actor
    form = await request.form()
    if not session.csrf_ok(request, str(form.get("csrf") or "")):
        return pages.error_page(request, 403, "invalid or missing CSRF token; reload", actor)
    try:
        if actor.role not in STAFF:
            raise Forbidden(f"role {actor.role!r} may not edit the asset register")
        fields = {k: v for k, v in _form_data(form).items() if k != "asset"}
        data = AssetPatch.model_validate(fields).model_dump(mode="json", exclude_unset=True)
        scope.site_param(actor, data.get("site"))
        pages.store(request).run(
            lambda tx: scope.asset_then(tx, actor, asset, A.patch, tx, actor, asset, data)
        )
    except ValidationError as exc:
        return _asset_page(request, actor, asset, 422, error=_errors(exc))
    except TicketingError as exc:
        return _asset_page(request, actor, asset, exc.status, error=exc.message)
    return RedirectResponse(f"/console/assets/{asset}?msg={quote('saved')}", status_code=303)


@router.get("/maintenance/forecast", response_class=HTMLResponse)
def forecast_page(request: Request, days: int = 30) -> Response:
    """What comes due in the next 30 days (like ``GET /maintenance/forecast``)."""
    from ticketing.cmms import pm

    actor = pages.current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    days = min(max(days, 1), 366)
    rows = scope.rows(actor, pages.store(request).read(lambda tx: pm.forecast(tx, days)))
    return pages.render(request, "cmms_forecast.html", actor, rows=rows, days=days)


# ---- the work on a ticket: checklist and parts ---------------------------------------------


def _work_page(request: Request, actor: Actor, tid: int, status: int = 200, **ctx: Any) -> Response:
    from ticketing import tickets as T
    from ticketing.cmms import jobs, parts

    def fn(tx: Any) -> dict[str, Any]:
        row = T.get_for(tx, actor, tid)
        w = jobs.work(tx, row)
        stock = {
            p["part_id"]: scope.stock(actor, parts.get_part(tx, p["part_id"]))["stock"]
            for p in w["parts"]
        }
        return {"t": row, "w": w, "stock": stock}

    try:
        data = pages.store(request).read(fn)
    except TicketingError as exc:
        return pages.error_page(request, exc.status, exc.message, actor)
    return pages.render(request, "cmms_work.html", actor, status=status, **data, **ctx)


@router.get("/tickets/{ticket_id}/work", response_class=HTMLResponse)
def work_page(request: Request, ticket_id: str, msg: str | None = None) -> Response:

    actor = pages.current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    tid = pages.ticket_id_of(ticket_id)
    if tid is None:
        return pages.error_page(request, 404, f"no ticket {ticket_id[:40]!r}", actor)
    return _work_page(request, actor, tid, notice=msg)


@router.post("/tickets/{ticket_id}/steps/{position}", response_class=HTMLResponse)
async def step_post(request: Request, ticket_id: str, position: int) -> Response:
    """A checklist step from a form, as ``POST /tickets/{id}/steps/{position}``."""
    from ticketing import tickets as T
    from ticketing.cmms import jobs
    from ticketing.cmms.schemas import StepResultIn

    actor = pages.current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    tid = pages.ticket_id_of(ticket_id)
    if tid is None:
        return pages.error_page(request, 404, f"no ticket {ticket_id[:40]!r}", actor)
    form = await request.form()
    if not session.csrf_ok(request, str(form.get("csrf") or "")):
        return pages.error_page(request, 403, "invalid or missing CSRF token; reload", actor)
    try:
        reading = str(form.get("reading") or "").strip()
        body = StepResultIn.model_validate(
            {
                "result": form.get("result"),
                "reading": float(reading) if _is_number(reading) else (reading or None),
                "note": str(form.get("note") or "") or None,
                "follow_up": form.get("follow_up") is not None,
            }
        )
        pages.store(request).run(
            lambda tx: jobs.record_step(
                tx, actor, T.get_for(tx, actor, tid, lock=True), position, body.model_dump()
            )
        )
    except ValidationError as exc:
        return _work_page(request, actor, tid, 422, error=_errors(exc))
    except TicketingError as exc:
        return _work_page(request, actor, tid, exc.status, error=exc.message)
    return RedirectResponse(
        f"/console/tickets/{tid}/work?msg={quote(f'step {position} recorded')}", status_code=303
    )


@router.get("/maintenance/kpis", response_class=HTMLResponse)
def kpi_page(request: Request) -> Response:
    """MTBF, MTTR, PM compliance, planned share and cost, last 90 days (like the API)."""
    from datetime import timedelta

    from ticketing.cmms import labour

    actor = pages.current(request, STAFF)
    if not isinstance(actor, Actor):
        return actor
    if actor.sites is not None:  # as the API: the figures span every site
        return pages.error_page(
            request, 403, "a site-scoped token may not read maintenance KPIs", actor
        )

    def fn(tx: Any) -> dict[str, Any]:
        start = tx.now - timedelta(days=90)
        return {
            "overall": labour.kpis(tx, start, tx.now, "none"),
            "by_class": labour.kpis(tx, start, tx.now, "asset_class"),
            "by_asset": labour.kpis(tx, start, tx.now, "asset"),
        }

    return pages.render(request, "cmms_kpis.html", actor, **pages.store(request).read(fn))
