"""Customer pages (public, no login): report from the QR code, track, reply, rate. Plus the
staff side: an asset's QR code (SVG), its printable label, and the CSAT figures."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from ticketing import customer as C
from ticketing import scope
from ticketing.api.common import role_router, roles, store
from ticketing.auth import STAFF, WORKERS
from ticketing.console import pages
from ticketing.errors import Invalid, TicketingError
from ticketing.store import Actor, Tx

public = APIRouter(prefix="/customer", include_in_schema=False)
labels = APIRouter(prefix="/console", include_in_schema=False)  # the console's session cookie
router = role_router(tags=["customer"])


def _cfg(request: Request) -> C.CustomerSettings:
    cfg: C.CustomerSettings = request.app.state.customer
    return cfg


def _client(request: Request) -> str:
    return C.client_digest(request.client.host if request.client else None)


def _failure(request: Request, exc: TicketingError, template: str, **ctx: Any) -> HTMLResponse:
    page = pages.render(request, template, None, status=exc.status, error=exc.message, **ctx)
    if "retry_after" in exc.data:
        page.headers["Retry-After"] = str(exc.data["retry_after"])
    return page


async def _form(request: Request, cap: int | None = None) -> dict[str, str]:
    """The posted form, refusing (413) more than ``cap`` (default ``max_form_bytes``)
    whatever the headers say."""
    cap = cap or _cfg(request).max_form_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise C.TooLarge(f"the form is larger than {cap} bytes; please shorten it")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise C.TooLarge(f"the form is larger than {cap} bytes; please shorten it")
    from urllib.parse import parse_qsl

    try:
        return dict(parse_qsl(body.decode("utf-8"), max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        raise Invalid("the form could not be read (send it as UTF-8)") from None


def report_url(request: Request, asset: str, key: str) -> str:
    base = _cfg(request).public_url.rstrip("/")
    return f"{base}/customer/report/{quote(asset)}?k={quote(key)}"


@public.get("/report/{asset}", response_class=HTMLResponse)
def report_form(request: Request, asset: str, k: str | None = None) -> Response:
    try:
        a = store(request).read(lambda tx: C.checked_asset(tx, asset, k))
    except TicketingError as exc:
        return _failure(request, exc, "customer_report.html", asset=None)
    return pages.render(request, "customer_report.html", None, asset=a, key=k, form={})


@public.post("/report/{asset}", response_class=HTMLResponse)
async def report_submit(request: Request, asset: str) -> Response:
    form: dict[str, str] = {}
    try:
        form = await _form(request)
        data = C.ReportIn.model_validate(
            {k: form.get(k, "") for k in ("title", "description", "contact")}
        )
        key, cfg, client = form.get("k"), _cfg(request), _client(request)

        def fn(tx: Tx) -> str:
            a = C.checked_asset(tx, asset, key)
            return str(C.report(tx, a, data, client, cfg.reports_per_hour)["tracking_code"])

        code = store(request).run(fn)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        msg = f"{field}: {exc.errors()[0]['msg']}"
        return _failure(
            request,
            Invalid(msg),
            "customer_report.html",
            asset={"asset": asset},
            key=form.get("k"),
            form=form,
        )
    except TicketingError as exc:
        return _failure(
            request,
            exc,
            "customer_report.html",
            asset={"asset": asset},
            key=form.get("k"),
            form=form,
        )
    return RedirectResponse(f"/customer/track/{code}?new=1", status_code=303)


def _code(code: str) -> str:
    code = code.strip().upper()
    if not pages.TRACK_RE.match(code):
        raise Invalid("a tracking code is 10 letters and digits")
    return code


@public.get("/track/{code}", response_class=HTMLResponse)
def track(request: Request, code: str, new: int = 0, thanks: int = 0) -> Response:
    try:
        info = store(request).read(lambda tx: C.view(tx, _code(code)))
    except TicketingError as exc:
        return _failure(request, exc, "customer_track.html", info=None)
    return pages.render(request, "customer_track.html", None, info=info, new=new, thanks=thanks)


async def _post(request: Request, code: str, action: str) -> Response:
    try:
        c = _code(code)
        form = await _form(request)
        cfg, client = _cfg(request), _client(request)
        if action == "reply":
            text = form.get("message", "").strip()
            if not text or len(text) > 2000 or "\x00" in text:
                raise Invalid("message: write 1 to 2000 characters")
            store(request).run(lambda tx: C.reply(tx, c, text, client, cfg.replies_per_hour))
        else:
            score_raw = form.get("score", "")
            if score_raw not in ("1", "2", "3", "4", "5"):
                raise Invalid("score: choose 1 to 5 stars")
            comment = form.get("comment", "").strip()
            if len(comment) > 2000 or "\x00" in comment:
                raise Invalid("comment: at most 2000 characters")
            store(request).run(
                lambda tx: C.rate(tx, c, int(score_raw), comment, client, cfg.replies_per_hour)
            )
    except TicketingError as exc:
        info = None
        with contextlib.suppress(TicketingError):
            info = store(request).read(lambda tx: C.view(tx, _code(code)))
        return _failure(request, exc, "customer_track.html", info=info)
    return RedirectResponse(f"/customer/track/{c}?thanks=1", status_code=303)


@public.post("/track/{code}/reply", response_class=HTMLResponse)
async def reply(request: Request, code: str) -> Response:
    return await _post(request, code, "reply")


@public.post("/track/{code}/rating", response_class=HTMLResponse)
async def rating(request: Request, code: str) -> Response:
    return await _post(request, code, "rating")


# ---- staff: QR codes, labels, CSAT ------------------------------------------------------


def qr_svg(url: str) -> str:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=6, border=2, xmldecl=False)
    return buf.getvalue().decode()


@router.get(
    "/assets/{asset}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "the QR code"}},
)
def asset_qr(request: Request, asset: str, actor: Actor = roles(*WORKERS)) -> Response:
    """The QR code of the asset's customer report link (made on first use)."""
    key = store(request).run(lambda tx: scope.asset_then(tx, actor, asset, C.report_key, tx, asset))
    return Response(qr_svg(report_url(request, asset, key)), media_type="image/svg+xml")


RFC3339 = Query(
    pattern=r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$",
    json_schema_extra={"format": "date-time"},
)


def instant(text: str | None, field: str) -> datetime | None:
    """An RFC 3339 time (a leap second counts as :59); 422 naming the field otherwise."""
    if text is None:
        return None
    norm = text.upper().replace("Z", "+00:00").replace(" ", "T")
    norm = re.sub(r"(T\d{2}:\d{2}):60", r"\1:59", norm)
    try:
        return datetime.fromisoformat(norm)
    except ValueError:
        raise Invalid(f"{field}: not a valid date and time", field=field) from None


class CsatEngineer(BaseModel):
    engineer_id: int | None
    name: str | None
    ratings: int
    average: float | None


class CsatOut(BaseModel):
    ratings: int
    average: float | None
    engineers: list[CsatEngineer]


@router.get("/kpis/csat", response_model=CsatOut)
def csat(
    request: Request,
    actor: Actor = roles(*STAFF),
    start: Annotated[str | None, RFC3339] = None,
    end: Annotated[str | None, RFC3339] = None,
) -> Any:
    """Customer satisfaction (1–5): the average and count, overall and per engineer, of the
    ratings given in [start, end) (RFC 3339 times with an offset). Ratings are not kept per
    site: 403 for a site-scoped token."""
    scope.require_unscoped(actor, "read CSAT (it spans every site)")
    since, until = instant(start, "start"), instant(end, "end")
    return store(request).read(lambda tx: C.csat(tx, since, until))


@labels.get("/assets/{asset}/label", response_class=HTMLResponse)
def label(request: Request, asset: str) -> Response:
    """A printable label (console session: staff and engineers)."""
    actor = pages.current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    try:
        key = store(request).run(
            lambda tx: scope.asset_then(tx, actor, asset, C.report_key, tx, asset)
        )
    except TicketingError as exc:
        return pages.error_page(request, exc.status, exc.message, actor)
    url = report_url(request, asset, key)
    return pages.render(
        request, "customer_label.html", actor, asset=asset, url=url, svg=qr_svg(url)
    )
