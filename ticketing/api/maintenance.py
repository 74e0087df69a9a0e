"""Preventive maintenance routes: plans, their occurrences, the 30-day forecast."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from forewarn.contract.topics import ID_PATTERN
from ticketing.api.common import MAX_ID, role_extra, roles, store, strict
from ticketing.cmms import pm
from ticketing.cmms.schemas import (
    ForecastOut,
    OccurrenceOut,
    PmPlanIn,
    PmPlanOut,
    PmPlanPatch,
)
from ticketing.errors import Invalid
from ticketing.store import Actor

router = APIRouter(tags=["maintenance"])
ALL = ("admin", "dispatcher", "engineer", "integration")
STAFF = ("admin", "dispatcher")
WORKERS = ("admin", "dispatcher", "engineer")
PlanId = Annotated[int, Path(ge=1, le=MAX_ID, description="preventive plan id")]


def _plan_data(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Weeks to days, and the pairing rules, each refused naming its field."""
    weeks = data.pop("every_weeks", None)
    if weeks is not None:
        if data.get("every_days") is not None:
            raise Invalid(
                "every_weeks: give every_days or every_weeks, not both", field="every_weeks"
            )
        data["every_days"] = weeks * 7
    if ("meter" in data) != ("every_meter" in data) and creating:
        field = "every_meter" if "meter" in data else "meter"
        raise Invalid(f"{field}: a meter plan needs both meter and every_meter", field=field)
    if creating and data.get("every_days") is None and data.get("every_meter") is None:
        raise Invalid(
            "every_days: a plan needs a calendar interval (every_days/every_weeks),"
            " a meter interval (meter, every_meter), or both",
            field="every_days",
        )
    return data


@router.get("/pm-plans", response_model=list[PmPlanOut], openapi_extra=role_extra(*WORKERS))
def list_plans(
    request: Request,
    asset: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    actor: Actor = roles(*WORKERS),
) -> Any:
    return store(request).read(
        lambda tx: tx.all(
            "select * from pm_plans where (%(a)s::text is null or asset = %(a)s) order by id",
            {"a": asset},
        )
    )


@router.post(
    "/pm-plans", response_model=PmPlanOut, status_code=201, openapi_extra=role_extra(*STAFF)
)
def create_plan(
    request: Request,
    body: PmPlanIn,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(PmPlanIn),
) -> Any:
    """A plan by calendar, by meter, or both (whichever first). A zero or negative interval
    is a 422 naming the field."""
    data = _plan_data(body.model_dump(exclude_unset=True), creating=True)
    return store(request).run(lambda tx: pm.create_plan(tx, actor, data))


@router.get("/pm-plans/{plan_id}", response_model=PmPlanOut, openapi_extra=role_extra(*WORKERS))
def get_plan(request: Request, plan_id: PlanId, actor: Actor = roles(*WORKERS)) -> Any:
    return store(request).read(lambda tx: pm.get_plan(tx, plan_id))


@router.patch("/pm-plans/{plan_id}", response_model=PmPlanOut, openapi_extra=role_extra(*STAFF))
def patch_plan(
    request: Request,
    plan_id: PlanId,
    body: PmPlanPatch,
    actor: Actor = roles(*STAFF),
    _strict: None = strict(PmPlanPatch),
) -> Any:
    data = _plan_data(body.model_dump(exclude_unset=True), creating=False)
    for key, value in data.items():
        if value is None and key not in ("every_days", "meter", "every_meter"):
            raise Invalid(f"{key}: may not be empty", field=key)
    return store(request).run(lambda tx: pm.patch_plan(tx, actor, plan_id, data))


@router.get(
    "/pm-plans/{plan_id}/occurrences",
    response_model=list[OccurrenceOut],
    openapi_extra=role_extra(*WORKERS),
)
def plan_occurrences(request: Request, plan_id: PlanId, actor: Actor = roles(*WORKERS)) -> Any:
    """Every due occurrence: opened (with its ticket) or skipped (a ticket was still open)."""
    return store(request).read(lambda tx: pm.occurrences(tx, plan_id))


@router.get(
    "/maintenance/forecast", response_model=list[ForecastOut], openapi_extra=role_extra(*WORKERS)
)
def forecast(
    request: Request,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    site: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    actor: Actor = roles(*WORKERS),
) -> Any:
    """What comes due in the next ``days`` (meter plans projected from the last week's rate)."""
    return store(request).read(lambda tx: pm.forecast(tx, days, site))
