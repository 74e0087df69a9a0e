"""Preventive maintenance routes: plans, their occurrences, the 30-day forecast."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Path, Query, Request

from forewarn.contract.topics import ID_PATTERN
from ticketing import scope
from ticketing import tickets as T
from ticketing.api.common import MAX_ID, TicketId, role_router, roles, store, strict
from ticketing.auth import ANY_ROLE, STAFF, WORKERS
from ticketing.cmms import assets as A
from ticketing.cmms import labour, pm
from ticketing.cmms.schemas import (
    DowntimeEnd,
    DowntimeIn,
    DowntimeOut,
    ForecastOut,
    MaintenanceKpi,
    OccurrenceOut,
    PmPlanIn,
    PmPlanOut,
    PmPlanPatch,
    TimeIn,
    TimeOut,
)
from ticketing.errors import Invalid
from ticketing.store import Actor, Tx

router = role_router(tags=["maintenance"])
PlanId = Annotated[int, Path(ge=1, le=MAX_ID, description="preventive plan id")]
PLAN_SITE = "select a.site from pm_plans p join assets a on a.asset = p.asset where p.id = %s"
DOWNTIME_SITE = "select a.site from downtime d join assets a on a.asset = d.asset where d.id = %s"


def _plan_rules(data: dict[str, Any]) -> None:
    """What a JSON schema cannot say: a meter plan names both meter and interval, and a
    plan has some interval. Checked after the asset, each refused naming its field."""
    if ("meter" in data) != ("every_meter" in data):
        field = "every_meter" if "meter" in data else "meter"
        raise Invalid(f"{field}: a meter plan needs both meter and every_meter", field=field)
    if data.get("every_days") is None and data.get("every_meter") is None:
        raise Invalid(
            "every_days: a plan needs a calendar interval (every_days), a meter interval"
            " (meter, every_meter), or both",
            field="every_days",
        )


@router.get("/pm-plans", response_model=list[PmPlanOut])
def list_plans(
    request: Request,
    asset: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    actor: Actor = roles(*WORKERS),
) -> Any:
    return store(request).read(
        lambda tx: tx.all(
            "select * from pm_plans where (%(a)s::text is null or asset = %(a)s)"
            " and (%(s)s::text[] is null or asset in (select asset from assets"
            " where site = any(%(s)s))) order by id",
            {"a": asset, "s": scope.sql_sites(actor)},
        )
    )


@router.post("/pm-plans", response_model=PmPlanOut, status_code=201)
def create_plan(
    request: Request,
    body: PmPlanIn,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(PmPlanIn),
) -> Any:
    """A plan by calendar, by meter, or both (whichever first). A zero or negative interval
    is a 422 naming the field."""
    data = body.model_dump(exclude_unset=True)

    def fn(tx: Tx) -> Any:
        scope.asset(tx, actor, body.asset)
        A.get(tx, body.asset)
        _plan_rules(data)
        return pm.create_plan(tx, actor, data)

    return store(request).run(fn)


@router.get("/pm-plans/{plan_id}", response_model=PmPlanOut)
def get_plan(request: Request, plan_id: PlanId, actor: Actor = roles(*WORKERS)) -> Any:
    def fn(tx: Tx) -> Any:
        scope.owned(tx, actor, "pm plan", plan_id, PLAN_SITE)
        return pm.get_plan(tx, plan_id)

    return store(request).read(fn)


@router.patch("/pm-plans/{plan_id}", response_model=PmPlanOut)
def patch_plan(
    request: Request,
    plan_id: PlanId,
    body: PmPlanPatch,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(PmPlanPatch),
) -> Any:
    data = body.model_dump(exclude_unset=True)
    for key in [k for k, v in data.items() if v is None]:
        if key not in ("every_days", "meter", "every_meter", "job_plan_id"):
            del data[key]  # these always have a value: null means "leave it"

    def fn(tx: Tx) -> Any:
        scope.owned(tx, actor, "pm plan", plan_id, PLAN_SITE)
        return pm.patch_plan(tx, actor, plan_id, data)

    return store(request).run(fn)


@router.get(
    "/pm-plans/{plan_id}/occurrences",
    response_model=list[OccurrenceOut],
)
def plan_occurrences(request: Request, plan_id: PlanId, actor: Actor = roles(*WORKERS)) -> Any:
    """Every due occurrence: opened (with its ticket) or skipped (a ticket was still open)."""

    def fn(tx: Tx) -> Any:
        scope.owned(tx, actor, "pm plan", plan_id, PLAN_SITE)
        return pm.occurrences(tx, plan_id)

    return store(request).read(fn)


@router.get("/maintenance/forecast", response_model=list[ForecastOut])
def forecast(
    request: Request,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    site: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    actor: Actor = roles(*WORKERS),
) -> Any:
    """What comes due in the next ``days`` (meter plans projected from the last week's rate)."""
    scope.site_param(actor, site)
    return scope.rows(actor, store(request).read(lambda tx: pm.forecast(tx, days, site)))


# --- labour, downtime, KPIs ----------------------------------------------------------------

ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$"
ISO_DOC = "ISO 8601 time with zone, e.g. 2026-01-05T00:00:00Z"
DowntimeId = Annotated[int, Path(ge=1, le=MAX_ID, description="downtime id")]
AssetName = Annotated[str, Path(pattern=ID_PATTERN, description="asset id")]


@router.post(
    "/tickets/{ticket_id}/time",
    response_model=TimeOut,
    status_code=201,
)
def book_time(
    request: Request,
    ticket_id: TicketId,
    body: TimeIn,
    actor: Actor = roles(*WORKERS),
    _s: None = strict(TimeIn),
) -> Any:
    """Time an engineer spent on the ticket (engineers book their own, on their tickets)."""
    data = body.model_dump()
    return store(request).run(
        lambda tx: labour.add_time(tx, actor, T.get_for(tx, actor, ticket_id, lock=True), data)
    )


@router.get("/tickets/{ticket_id}/time", response_model=list[TimeOut])
def ticket_time(request: Request, ticket_id: TicketId, actor: Actor = roles(*WORKERS)) -> Any:
    def fn(tx: Tx) -> Any:
        T.get_for(tx, actor, ticket_id)
        return labour.time_for(tx, ticket_id)

    return store(request).read(fn)


@router.post(
    "/assets/{asset}/downtime",
    response_model=DowntimeOut,
    status_code=201,
)
def record_downtime(
    request: Request,
    asset: AssetName,
    body: DowntimeIn,
    actor: Actor = roles(*STAFF),
    _s: None = strict(DowntimeIn),
) -> Any:
    """A downtime of the asset (open while ``ended_at`` is missing); planned or not."""
    data = body.model_dump()
    return store(request).run(
        lambda tx: scope.asset_then(tx, actor, asset, labour.add_downtime, tx, actor, asset, data)
    )


@router.get("/assets/{asset}/downtime", response_model=list[DowntimeOut])
def asset_downtime(request: Request, asset: AssetName, actor: Actor = roles(*ANY_ROLE)) -> Any:
    return store(request).read(
        lambda tx: scope.asset_then(tx, actor, asset, labour.downtime_for, tx, asset)
    )


@router.patch("/downtime/{downtime_id}", response_model=DowntimeOut)
def end_downtime(
    request: Request,
    downtime_id: DowntimeId,
    body: DowntimeEnd,
    actor: Actor = roles(*STAFF),
    _s: None = strict(DowntimeEnd),
) -> Any:
    def fn(tx: Tx) -> Any:
        scope.owned(tx, actor, "downtime", downtime_id, DOWNTIME_SITE)
        return labour.end_downtime(tx, actor, downtime_id, body.ended_at)

    return store(request).run(fn)


@router.get("/maintenance/kpis", response_model=list[MaintenanceKpi])
def maintenance_kpis(
    request: Request,
    from_: Annotated[str | None, Query(alias="from", pattern=ISO, description=ISO_DOC)] = None,
    to: Annotated[str | None, Query(pattern=ISO, description=ISO_DOC)] = None,
    group_by: Annotated[str, Query(pattern="^(none|asset|asset_class)$")] = "none",
    actor: Actor = roles(*STAFF),
) -> Any:
    """MTBF, MTTR, PM compliance, planned share and cost over ``from``..``to`` (default:
    the last 90 days), overall, per asset or per asset class. They span every site: 403 for
    a site-scoped token."""
    scope.require_unscoped(actor, "read maintenance KPIs (they span every site)")

    def fn(tx: Tx) -> Any:
        end = _aware(to, "to") or tx.now
        start = _aware(from_, "from") or end - timedelta(days=90)
        return labour.kpis(tx, start, end, group_by)

    return store(request).read(fn)


def _aware(text: str | None, field: str) -> datetime | None:
    """An ISO 8601 time with its zone (numbers are not taken as Unix times)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{field}: not an ISO 8601 time", field=field) from None
    if value.tzinfo is None:
        raise Invalid(f"{field}: needs a time zone (e.g. 2026-01-05T00:00:00Z)", field=field)
    return value
