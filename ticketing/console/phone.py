"""The console as an installable app on the technician's phone: the service worker is served
from ``/console/sw.js`` so its scope covers the whole console (files under /console/static
could only control that folder). The manifest, icons and offline queue are static files."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ticketing.console.pages import STATIC

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/sw.js")
def service_worker() -> FileResponse:
    return FileResponse(
        STATIC / "sw.js",
        media_type="application/javascript",
        headers={"Service-Worker-Allowed": "/console/", "Cache-Control": "no-cache"},
    )
