"""Anomaly intake, engineers, SLA policies, webhooks, KPIs, audit, the caller, tracking."""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse

from forewarn.contract import AnomalyEvent
from ticketing import engineers as E
from ticketing import intake, kpis, lifecycle
from ticketing.api.common import EngineerId, role_router, roles, store, strict
from ticketing.auth import ADMIN, ANY_ROLE, INTAKE, STAFF, WORKERS, require_site, require_unscoped
from ticketing.errors import AuditBroken, Forbidden, NotFound
from ticketing.lifecycle import Priority
from ticketing.notify import check_target
from ticketing.schemas import (
    MAX_ID,
    AnomalyResult,
    DeliveryOut,
    EngineerIn,
    EngineerOut,
    EngineerPatch,
    KpiOut,
    Me,
    SlaPolicy,
    SlaPolicyOut,
    TrackOut,
    VerifyOut,
    WebhookIn,
    WebhookOut,
)
from ticketing.store import Actor, Tx, verify_chain

router = role_router()


@router.post(
    "/anomalies",
    response_model=AnomalyResult,
    tags=["anomalies"],
    responses={200: {"model": AnomalyResult, "description": "duplicate or no new ticket"}},
    status_code=201,
)
def post_anomaly(
    request: Request,
    event: AnomalyEvent,
    actor: Actor = roles(*INTAKE),
    _strict: None = strict(AnomalyEvent),
) -> Any:
    """An anomaly event (v1 contract), for detectors that do not speak MQTT. The event id is
    the idempotency key: a repeated event answers ``duplicate``."""
    require_site(actor, event.site)

    def fn(tx: Tx) -> dict[str, Any]:
        if actor.sites is not None:  # the event's site is ours; the asset must be too
            known = tx.one("select site from assets where asset = %s", (event.asset,))
            if known is not None and not actor.sees(known["site"]):
                raise NotFound("asset", event.asset)
        return intake.ingest(tx, actor, event)

    result = store(request).run(fn)
    status = 201 if result["outcome"] == "opened" else 200
    return JSONResponse(
        AnomalyResult.model_validate(result).model_dump(mode="json"), status_code=status
    )


@router.get(
    "/engineers",
    response_model=list[EngineerOut],
    tags=["engineers"],
)
def list_engineers(request: Request, actor: Actor = roles(*STAFF)) -> Any:
    return store(request).read(E.listing)


@router.post(
    "/engineers",
    response_model=EngineerOut,
    status_code=201,
    tags=["engineers"],
)
def create_engineer(
    request: Request,
    body: EngineerIn,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(EngineerIn),
) -> Any:
    return store(request).run(lambda tx: E.create(tx, actor, body.model_dump(mode="json")))


@router.get(
    "/engineers/{engineer_id}",
    response_model=EngineerOut,
    tags=["engineers"],
)
def get_engineer(
    request: Request,
    engineer_id: EngineerId,
    actor: Actor = roles(*WORKERS),
) -> Any:
    if actor.role == "engineer" and actor.engineer_id != engineer_id:
        raise Forbidden("engineers may read only their own record")
    return store(request).read(lambda tx: E.get(tx, engineer_id))


@router.patch(
    "/engineers/{engineer_id}",
    response_model=EngineerOut,
    tags=["engineers"],
)
def patch_engineer(
    request: Request,
    engineer_id: EngineerId,
    body: EngineerPatch,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(EngineerPatch),
) -> Any:
    data = body.model_dump(mode="json", exclude_unset=True)
    return store(request).run(lambda tx: E.patch(tx, actor, engineer_id, data))


@router.get(
    "/sla/policies",
    response_model=list[SlaPolicyOut],
    tags=["sla"],
)
def sla_policies(request: Request, actor: Actor = roles(*STAFF)) -> Any:
    rows = store(request).read(
        lambda tx: tx.all("select * from sla_policies order by priority, site <> '*', site")
    )
    return [r for r in rows if r["site"] == "*" or actor.sees(r["site"])]


@router.put(
    "/sla/policies/{priority}",
    response_model=SlaPolicyOut,
    tags=["sla"],
)
def put_sla_policy(
    request: Request,
    priority: Priority,
    body: SlaPolicy,
    actor: Actor = roles(*ADMIN),
    site: Annotated[
        str,
        Query(
            pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$", description="a site, or * for all"
        ),
    ] = "*",
    _strict: None = strict(SlaPolicy),
) -> Any:
    """Set a policy (for one site, or the default ``*``); it applies to tickets opened (or
    re-prioritised) from now on."""
    if site == "*":
        require_unscoped(actor, "set the default (all-site) policy")
    else:
        require_site(actor, site)

    def fn(tx: Tx) -> Any:
        before = tx.one(
            "select * from sla_policies where priority = %s and site = %s for update",
            (priority, site),
        )
        row = tx.one(
            "insert into sla_policies (priority, site, response_minutes, resolution_minutes,"
            " warn_before_minutes) values (%s, %s, %s, %s, %s) on conflict (priority, site)"
            " do update set response_minutes = excluded.response_minutes, resolution_minutes ="
            " excluded.resolution_minutes, warn_before_minutes = excluded.warn_before_minutes"
            " returning *",
            (
                priority,
                site,
                body.response_minutes,
                body.resolution_minutes,
                body.warn_before_minutes,
            ),
        )
        tx.audit(actor, "sla_policy_set", "sla_policy", f"{priority}@{site}", before, row)
        return row

    return store(request).run(fn)


@router.post(
    "/webhooks",
    response_model=WebhookOut,
    status_code=201,
    tags=["webhooks"],
)
def create_webhook(
    request: Request,
    body: WebhookIn,
    actor: Actor = roles(*ADMIN),
    _strict: None = strict(WebhookIn),
) -> Any:
    """Subscribe a URL to event types; the HMAC secret is returned once."""
    require_unscoped(actor, "manage webhooks (they carry every site's events)")
    check_target(str(body.url), request.app.state.config.webhook_allow_private)
    secret = body.secret or secrets.token_urlsafe(32)

    def fn(tx: Tx) -> Any:
        row = tx.one(
            "insert into webhooks (url, event_types, secret) values (%s, %s, %s) returning *",
            (str(body.url), body.event_types, secret),
        )
        assert row is not None
        tx.audit(
            actor,
            "webhook_created",
            "webhook",
            row["id"],
            None,
            {"url": row["url"], "event_types": row["event_types"]},
        )
        return row

    return store(request).run(fn)


@router.get(
    "/webhooks",
    response_model=list[WebhookOut],
    tags=["webhooks"],
)
def list_webhooks(request: Request, actor: Actor = roles(*ADMIN)) -> Any:
    require_unscoped(actor, "manage webhooks (they carry every site's events)")
    rows = store(request).read(lambda tx: tx.all("select * from webhooks order by id"))
    return [{**r, "secret": None} for r in rows]


@router.delete("/webhooks/{webhook_id}", status_code=204, tags=["webhooks"])
def delete_webhook(
    request: Request,
    webhook_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    actor: Actor = roles(*ADMIN),
) -> None:
    """Deactivate (kept for the delivery log)."""
    require_unscoped(actor, "manage webhooks (they carry every site's events)")

    def fn(tx: Tx) -> None:
        row = tx.one(
            "update webhooks set active = false where id = %s and active returning id",
            (webhook_id,),
        )
        if row is None:
            raise NotFound("active webhook", webhook_id)
        tx.conn.execute(  # its queued deliveries stop here, with the reason in the log
            "update webhook_deliveries set status = 'failed', last_error = 'webhook deactivated'"
            " where webhook_id = %s and status = 'pending'",
            (webhook_id,),
        )
        tx.audit(
            actor, "webhook_deactivated", "webhook", webhook_id, {"active": True}, {"active": False}
        )

    store(request).run(fn)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    tags=["webhooks"],
)
def deliveries(
    request: Request,
    webhook_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: Actor = roles(*ADMIN),
) -> Any:
    require_unscoped(actor, "manage webhooks (they carry every site's events)")

    def fn(tx: Tx) -> Any:
        if tx.one("select 1 from webhooks where id = %s", (webhook_id,)) is None:
            raise NotFound("webhook", webhook_id)
        return tx.all(
            "select * from webhook_deliveries where webhook_id = %s order by id desc limit %s",
            (webhook_id, limit),
        )

    return store(request).read(fn)


@router.get("/kpis", response_model=KpiOut, tags=["kpis"])
def get_kpis(
    request: Request, group_by: kpis.GroupBy = "none", actor: Actor = roles(*STAFF)
) -> Any:
    """Time to acknowledge and repair (hours), SLA compliance, first-time fix, predictive
    lead time, and the share of faults ticketed before any customer report."""
    rows = store(request).read(lambda tx: kpis.kpis(tx, group_by, actor.sites))
    return {"group_by": group_by, "rows": rows}


@router.get("/audit/verify", response_model=VerifyOut, tags=["audit"])
def audit_verify(request: Request, actor: Actor = roles(*ADMIN)) -> Any:
    """Recompute the hash chain; ``ok: false`` names the first event that does not verify."""
    require_unscoped(actor, "verify the audit chain (it spans every site)")
    try:
        return {"ok": True, "events": store(request).read(lambda tx: verify_chain(tx.conn))}
    except AuditBroken as exc:
        return {
            "ok": False,
            "events": None,
            "broken_at": exc.data["seq"],
            "reason": exc.data["reason"],
        }


@router.get("/me", response_model=Me, tags=["auth"])
def me(actor: Actor = roles(*ANY_ROLE)) -> Any:
    return {
        "name": actor.name,
        "role": actor.role,
        "engineer_id": actor.engineer_id,
        "sites": list(actor.sites) if actor.sites is not None else None,
    }


TrackCode = Annotated[str, Path(pattern=r"^[A-Z2-9]{10}$", description="the customer's code")]


@router.get(
    "/track/{code}",
    response_model=TrackOut,
    tags=["public"],
    openapi_extra={"x-roles": ["public"]},
    responses={429: {"description": "too many lookups from this address; see Retry-After"}},
)
def track(request: Request, code: TrackCode) -> Any:
    """Progress for a customer: no login, and no names, notes or other internal detail."""

    def fn(tx: Tx) -> Any:
        row = tx.one(
            "select id, state, created_at, updated_at from tickets where tracking_code = %s",
            (code,),
        )
        if row is None:
            raise NotFound("tracking code", code)
        history = [{"at": row["created_at"], "status": lifecycle.PUBLIC_STATE["new"]}]
        for ev in tx.all(
            "select at, body from audit_events where entity = 'ticket' and"
            " entity_id = %s order by seq",
            (str(row["id"]),),
        ):
            after = json.loads(ev["body"]).get("after") or {}
            status = lifecycle.PUBLIC_STATE.get(after.get("state", ""), None)
            if status and status != history[-1]["status"]:
                history.append({"at": ev["at"], "status": status})
        messages = [
            r["body"]
            for r in tx.all(
                "select body from comments where ticket_id = %s and not internal order by id",
                (row["id"],),
            )
        ]
        return {
            "tracking_code": code,
            "status": lifecycle.PUBLIC_STATE[row["state"]],
            "opened_at": row["created_at"],
            "updated_at": row["updated_at"],
            "history": history,
            "messages": messages,
        }

    return store(request).read(fn)
