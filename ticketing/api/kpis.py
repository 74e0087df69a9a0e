"""The KPI route: ticket performance, grouped as asked."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ticketing import kpis
from ticketing.api.common import role_router, roles, store
from ticketing.auth import STAFF
from ticketing.schemas import KpiOut
from ticketing.store import Actor

router = role_router(tags=["kpis"])


@router.get("/kpis", response_model=KpiOut)
def get_kpis(
    request: Request, group_by: kpis.GroupBy = "none", actor: Actor = roles(*STAFF)
) -> Any:
    """Time to acknowledge and repair (hours), SLA compliance, first-time fix, predictive
    lead time, and the share of faults ticketed before any customer report."""
    rows = store(request).read(lambda tx: kpis.kpis(tx, group_by, actor.sites))
    return {"group_by": group_by, "rows": rows}
