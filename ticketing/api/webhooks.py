"""Webhook routes: subscribe, list, deactivate, delivery log (admins without a site scope)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Path, Query, Request

from ticketing import webhooks
from ticketing.api.common import role_router, roles, store, strict
from ticketing.auth import ADMIN, require_unscoped
from ticketing.notify import check_target
from ticketing.schemas import MAX_ID, DeliveryOut, WebhookIn, WebhookOut
from ticketing.store import Actor

router = role_router(prefix="/webhooks", tags=["webhooks"])
WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]
SPANS_SITES = "manage webhooks (they carry every site's events)"


@router.post("", response_model=WebhookOut, status_code=201)
def create_webhook(
    request: Request,
    body: WebhookIn,
    actor: Actor = roles(*ADMIN),
    _strict: None = strict(WebhookIn),
) -> Any:
    """Subscribe a URL to event types; the HMAC secret is returned once."""
    require_unscoped(actor, SPANS_SITES)
    check_target(str(body.url), request.app.state.config.webhook_allow_private)
    secret = body.secret or secrets.token_urlsafe(32)
    return store(request).run(
        lambda tx: webhooks.create(tx, actor, str(body.url), body.event_types, secret)
    )


@router.get("", response_model=list[WebhookOut])
def list_webhooks(request: Request, actor: Actor = roles(*ADMIN)) -> Any:
    require_unscoped(actor, SPANS_SITES)
    return store(request).read(webhooks.listing)


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(request: Request, webhook_id: WebhookId, actor: Actor = roles(*ADMIN)) -> None:
    """Deactivate (kept for the delivery log)."""
    require_unscoped(actor, SPANS_SITES)
    store(request).run(lambda tx: webhooks.deactivate(tx, actor, webhook_id))


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def deliveries(
    request: Request,
    webhook_id: WebhookId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: Actor = roles(*ADMIN),
) -> Any:
    require_unscoped(actor, SPANS_SITES)
    return store(request).read(lambda tx: webhooks.deliveries(tx, webhook_id, limit))
