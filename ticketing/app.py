"""The FastAPI application: ``create_app(settings)``.

Routes, middleware and error answers are set up here; what runs beside them (pool, SLA
monitor, senders, MQTT, scheduler) is a :class:`~ticketing.runtime.Runtime`, started and
stopped by the app's lifespan.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forewarn import redact
from forewarn.settings import Settings
from ticketing import console, i18n, probes
from ticketing.api import anomalies, audit, engineers, kpis, me, sla, tickets, track, webhooks
from ticketing.api import attachments as attachments_api
from ticketing.api import customer as customer_api
from ticketing.api import dispatch as dispatch_api
from ticketing.api import notifications as notifications_api
from ticketing.attachments import attachment_settings
from ticketing.clock import Clock, SystemClock
from ticketing.config import TicketingSettings, ticketing_settings
from ticketing.customer import customer_settings
from ticketing.errors import TicketingError
from ticketing.httpsec import RateLimit, SecurityHeaders, default_rules
from ticketing.runtime import Runtime
from ticketing.schemas import ErrorOut

log = logging.getLogger("ticketing")


class BodyLimit:
    """413 for a body over the limit, declared or streamed (chunked), before any route,
    dependency or token check runs.

    Plain ASGI (no per-request task overhead). A declared Content-Length over the limit is
    refused before a byte is read. A streamed body is counted as it arrives: the moment the
    count passes the limit the 413 goes out, ``receive`` reports a disconnect (so the app
    stops reading) and whatever the app still tries to send is dropped. The server then
    closes the connection instead of reading the rest, so memory never holds more than the
    limit (uvicorn pauses the socket while a chunk waits to be read).
    """

    def __init__(self, app: ASGIApp, limit: int, uploads: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.uploads = uploads  # photo uploads (paths ending in /photos) check their own size

    def _too_large(self, limit: int) -> JSONResponse:
        return JSONResponse(
            {"detail": f"request body larger than {limit} bytes"},
            status_code=413,
            headers={"connection": "close"},  # uvicorn closes instead of draining the rest
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        if self.uploads and scope["path"].endswith("/photos"):
            limit = max(limit, self.uploads)
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await self._too_large(limit)(scope, receive, send)
                return
        seen = 0
        refused = False
        started = False

        async def counted_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        await self._too_large(limit)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 already went out; the app's late answer is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "unreadable request body"},
    401: {"model": ErrorOut, "description": "missing, unknown or revoked bearer token"},
    403: {"model": ErrorOut, "description": "the token's role (or engineer) may not do this"},
    404: {"model": ErrorOut, "description": "unknown ticket, asset, engineer or other id"},
    409: {
        "model": ErrorOut,
        "description": "conflicts with the current state (lists what is allowed)",
    },
    413: {"model": ErrorOut, "description": "request body too large"},
    422: {"model": ErrorOut, "description": "invalid input; names the field"},
}


class AllowHeader:
    """A 405 lists every method the path supports (Starlette names only the first route's)."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self.table: list[tuple[re.Pattern[str], set[str]]] | None = None

    def _methods(self, path: str) -> set[str]:
        if self.table is None:
            self.table = [
                (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), {m.upper() for m in ops})
                for p, ops in self.fastapi.openapi()["paths"].items()
            ]
        out: set[str] = set()
        for pattern, methods in self.table:
            if pattern.match(path):
                out |= methods
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_fixed(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = self._methods(scope["path"])
                if methods:
                    headers = MutableHeaders(scope=message)
                    headers["allow"] = ", ".join(sorted(methods))
            await send(message)

        await self.app(scope, receive, send_fixed)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(TicketingError)
    async def ticketing_error(request: Request, exc: TicketingError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, **exc.data}, status_code=exc.status)

    @app.exception_handler(psycopg.errors.UniqueViolation)
    async def unique(request: Request, exc: psycopg.errors.UniqueViolation) -> JSONResponse:
        name = exc.diag.constraint_name or "a unique rule"
        detail = f"conflicts with an existing record ({name})"
        if name == "tickets_one_open_predictive":
            detail = "an open predictive ticket already exists for this asset and fault mode"
        return JSONResponse({"detail": detail}, status_code=409)

    @app.exception_handler(psycopg.errors.ForeignKeyViolation)
    async def fk(request: Request, exc: psycopg.errors.ForeignKeyViolation) -> JSONResponse:
        return JSONResponse(
            {"detail": f"refers to something unknown: {exc.diag.message_detail}"}, status_code=422
        )

    @app.exception_handler(psycopg.IntegrityError)
    async def integrity(request: Request, exc: psycopg.IntegrityError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"refused by the database: {exc.diag.message_primary}"}, status_code=422
        )

    @app.exception_handler(UnicodeEncodeError)
    async def unicode(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return JSONResponse({"detail": "text must be valid Unicode"}, status_code=422)

    @app.exception_handler(psycopg.DataError)
    async def data(request: Request, exc: psycopg.DataError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"invalid value: {str(exc).splitlines()[0]}"}, status_code=422
        )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    background: bool = True,
    mqtt: bool | None = None,
    config: TicketingSettings | None = None,
) -> FastAPI:
    """Build the app. ``background=False`` leaves the SLA/webhook timers to the caller
    (tests call ``app.state.sla.scan()`` with a manual clock); ``mqtt`` overrides the setting."""
    cfg = config or ticketing_settings(settings)
    redact.install()  # webhook URLs carry credentials; also when run without the CLI
    runtime = Runtime.build(
        settings,
        cfg,
        clock or SystemClock(),
        background=background,
        mqtt=cfg.mqtt_enabled if mqtt is None else mqtt,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
            app.state.mqtt_ready = runtime.mqtt_ready
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Forewarn ticketing",
        version="1.0.0",
        description="Predictive work orders: lifecycle, routing, SLA timers, audit trail. "
        "Every route needs `Authorization: Bearer <token>` except `/track/{code}`; each "
        "operation lists the roles it admits in `x-roles`.",
        lifespan=lifespan,
        # No Swagger UI/ReDoc: they load from a CDN (fails offline, and needs inline script
        # under the CSP). The schema stays at /openapi.json for any local viewer.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    store = app.state.store = runtime.store
    app.state.sla = runtime.sla
    app.state.webhooks = runtime.webhooks
    app.state.notifier = runtime.notifier
    app.state.config = cfg
    app.state.expire_keys = runtime.expire_keys
    app.state.attachments = attachment_settings(settings)
    app.add_middleware(
        BodyLimit, limit=cfg.max_body_bytes, uploads=app.state.attachments.max_bytes + 65536
    )
    app.add_middleware(AllowHeader, fastapi=app)
    app.add_middleware(RateLimit, rules=default_rules(cfg.login_per_minute, cfg.track_per_minute))
    app.add_middleware(SecurityHeaders)  # outermost: also on 413 and 429 answers
    _handlers(app)
    probes.install(app, settings.database.dsn)
    app.include_router(probes.router)  # /healthz, /readyz, /metrics: no token
    for resource in (tickets, anomalies, engineers, sla, webhooks, kpis, audit, me, track):
        app.include_router(resource.router, responses=ERRORS)
    app.include_router(notifications_api.router, responses=ERRORS)
    app.state.customer = customer_settings(settings)
    app.include_router(customer_api.router, responses=ERRORS)
    app.include_router(customer_api.public)
    app.include_router(customer_api.labels)
    app.include_router(attachments_api.router, responses=ERRORS)
    app.include_router(dispatch_api.router, responses=ERRORS)
    app.include_router(attachments_api.console)
    from ticketing.api import signoff as signoff_api  # customer sign-off (issue 16)

    app.include_router(signoff_api.router, responses=ERRORS)
    app.include_router(signoff_api.public)
    app.include_router(signoff_api.console)
    app.state.locale = i18n.locale_settings(settings)
    app.include_router(i18n.router)
    app.include_router(console.router)
    from ticketing.cmms.wiring import install as install_cmms

    install_cmms(app, store, cfg, responses=ERRORS)
    app.mount("/console/static", StaticFiles(directory=console.STATIC), name="console-static")
    return app
