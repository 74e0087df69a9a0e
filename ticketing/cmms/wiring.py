"""Plug the maintenance features into the app: routers, console pages, scheduled jobs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ticketing.config import TicketingSettings
from ticketing.store import Store


def install(
    app: FastAPI, store: Store, cfg: TicketingSettings, *, responses: dict[int | str, Any]
) -> None:
    from ticketing.api import assets, maintenance, work
    from ticketing.cmms import console, meters, pm

    store.options.labour_rate_per_h = cfg.labour_rate_per_h
    app.include_router(assets.router, responses=responses)
    app.include_router(maintenance.router, responses=responses)
    app.include_router(work.router, responses=responses)
    console.install_templates()
    app.include_router(console.router)

    def maintenance_scan() -> list[dict[str, Any]]:
        """Meters first (a meter plan needs fresh hours), then the preventive plans."""
        meters.derive_all(store)
        return pm.scan(store)

    app.state.maintenance_scan = maintenance_scan
    app.state.runtime.jobs.append(
        ("maintenance", maintenance_scan, cfg.maintenance_scan_interval_s)
    )
