"""Asset register routes: CRUD, CSV import/export, history, meters.

Roles as for the rest of the service: admin and dispatcher write the register, every role
reads it; engineers also enter meter readings (they stand in front of the machine). The
detectors' health index is for the people who act on it (admin, dispatcher, engineer), as
the maintenance forecast is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request, Response

from forewarn.contract.topics import ID_PATTERN
from ticketing import scope
from ticketing.api.common import role_router, roles, store, strict
from ticketing.auth import ANY_ROLE, STAFF, WORKERS
from ticketing.cmms import assets as A
from ticketing.cmms import health as H
from ticketing.cmms import meters as M
from ticketing.cmms.schemas import (
    AssetHealth,
    AssetHistory,
    AssetIn,
    AssetOut,
    AssetPatch,
    ImportResult,
    MeterOut,
    ReadingIn,
)
from ticketing.errors import Invalid
from ticketing.store import Actor, Tx

router = role_router(tags=["assets"])
AssetName = Annotated[str, Path(pattern=ID_PATTERN, description="asset id")]
SiteQ = Annotated[str | None, Query(pattern=ID_PATTERN)]
CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get("/asset-csv", response_class=Response)
def export_assets(
    request: Request, site: SiteQ = None, actor: Actor = roles(*ANY_ROLE)
) -> Response:
    """The register as CSV (same columns as the import; documents as a JSON list)."""
    scope.site_param(actor, site)
    text = store(request).read(lambda tx: A.export_csv(tx, site, actor.sites))
    return Response(text, media_type="text/csv; charset=utf-8")


@router.post(
    "/asset-csv",
    response_model=ImportResult,
    openapi_extra=CSV_BODY,
)
async def import_assets(request: Request, actor: Actor = roles(*STAFF)) -> Any:
    """Create or update assets from CSV, all or nothing: the first bad row is a 422 naming
    the row (file line) and the field, and nothing is written."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("body: CSV must be UTF-8", field="body") from None
    if "\x00" in text:
        raise Invalid("body: CSV must not contain NUL characters", field="body")
    rows = A.parse_csv(text)

    def fn(tx: Tx) -> Any:
        for r in rows:  # a row for another site: 403; another site's existing asset: 404
            scope.require_site(actor, r["site"])
            scope.asset(tx, actor, r["asset"])
        return A.import_rows(tx, actor, rows)

    return store(request).run(fn)


@router.get("/assets", response_model=list[AssetOut])
def list_assets(
    request: Request,
    site: SiteQ = None,
    status: Annotated[str | None, Query(pattern="^(draft|active|inactive|retired)$")] = None,
    actor: Actor = roles(*ANY_ROLE),
) -> Any:
    """The register; ``status=draft`` lists what ingest registered and the team must complete."""
    scope.site_param(actor, site)
    return scope.rows(actor, store(request).read(lambda tx: A.listing(tx, site, status)))


@router.post("/assets", response_model=AssetOut, status_code=201)
def create_asset(
    request: Request,
    body: AssetIn,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(AssetIn),
) -> Any:
    data = body.model_dump(mode="json", exclude_unset=True)
    scope.site_param(actor, data.get("site"))
    return store(request).run(lambda tx: A.create(tx, actor, data))


@router.get("/assets/{asset}", response_model=AssetOut)
def get_asset(request: Request, asset: AssetName, actor: Actor = roles(*ANY_ROLE)) -> Any:
    return store(request).read(lambda tx: scope.asset_then(tx, actor, asset, A.get, tx, asset))


@router.patch("/assets/{asset}", response_model=AssetOut)
def patch_asset(
    request: Request,
    asset: AssetName,
    body: AssetPatch,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(AssetPatch),
) -> Any:
    data = body.model_dump(mode="json", exclude_unset=True)
    scope.site_param(actor, data.get("site"))
    return store(request).run(
        lambda tx: scope.asset_then(tx, actor, asset, A.patch, tx, actor, asset, data)
    )


@router.delete("/assets/{asset}", status_code=204)
def delete_asset(request: Request, asset: AssetName, actor: Actor = roles(*STAFF)) -> Response:
    """Only an asset nothing refers to (409 otherwise: retire it instead)."""
    store(request).run(lambda tx: scope.asset_then(tx, actor, asset, A.delete, tx, actor, asset))
    return Response(status_code=204)


@router.get("/assets/{asset}/history", response_model=AssetHistory)
def asset_history(request: Request, asset: AssetName, actor: Actor = roles(*ANY_ROLE)) -> Any:
    """Tickets, anomalies, PM done and meters of one asset."""
    return store(request).read(lambda tx: scope.asset_then(tx, actor, asset, A.history, tx, asset))


@router.get("/assets/{asset}/health", response_model=AssetHealth)
def asset_health(
    request: Request,
    asset: AssetName,
    hours: Annotated[
        float, Query(gt=0, le=2160, description="history before the latest record")
    ] = 24.0,
    points: Annotated[int, Query(ge=1, le=1000, description="history points at most")] = 96,
    actor: Actor = roles(*WORKERS),
) -> Any:
    """The detectors' health index of the asset: the latest (index, trend per day, hours to
    the alarm bar) and its history; ``latest`` is null until the detectors recorded one."""
    return store(request).read(
        lambda tx: scope.asset_then(tx, actor, asset, H.health, tx, asset, hours, points)
    )


@router.get("/assets/{asset}/meters", response_model=list[MeterOut])
def asset_meters(request: Request, asset: AssetName, actor: Actor = roles(*ANY_ROLE)) -> Any:
    return store(request).read(lambda tx: scope.asset_then(tx, actor, asset, M.listing, tx, asset))


@router.post(
    "/assets/{asset}/meters",
    response_model=MeterOut,
    status_code=201,
)
def record_reading(
    request: Request,
    asset: AssetName,
    body: ReadingIn,
    actor: Actor = roles(*WORKERS),
    _strict: None = strict(ReadingIn),
) -> Any:
    """A manual reading; a meter never goes backwards (422 naming ``value``)."""
    return store(request).run(
        lambda tx: scope.asset_then(
            tx, actor, asset, M.record, tx, actor, asset, body.meter, body.value, body.at
        )
    )
