"""Anomaly intake over HTTP, for detectors that do not speak MQTT."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from forewarn.contract import AnomalyEvent
from ticketing import intake
from ticketing.api.common import role_router, roles, store, strict
from ticketing.auth import INTAKE, require_site
from ticketing.schemas import AnomalyResult
from ticketing.store import Actor

router = role_router(tags=["anomalies"])


@router.post(
    "/anomalies",
    response_model=AnomalyResult,
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
    result = store(request).run(lambda tx: intake.ingest(tx, actor, event))
    status = 201 if result["outcome"] == "opened" else 200
    return JSONResponse(
        AnomalyResult.model_validate(result).model_dump(mode="json"), status_code=status
    )
