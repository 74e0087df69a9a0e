"""Public tracking: a customer's progress by code, without a token (rate-limited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from ticketing import customer
from ticketing.api.common import store
from ticketing.schemas import TrackOut

router = APIRouter(tags=["public"])
TrackCode = Annotated[str, Path(pattern=r"^[A-Z2-9]{10}$", description="the customer's code")]


@router.get(
    "/track/{code}",
    response_model=TrackOut,
    openapi_extra={"x-roles": ["public"]},
    responses={429: {"description": "too many lookups from this address; see Retry-After"}},
)
def track(request: Request, code: TrackCode) -> Any:
    """Progress for a customer: no login, and no names, notes or other internal detail."""
    return store(request).read(lambda tx: customer.track(tx, code))
