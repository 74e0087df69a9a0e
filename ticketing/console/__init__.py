"""The operator web console: server-rendered pages over the ticketing service's own data
access and auth (same roles, same state machine), with inline-SVG charts and no CDN."""

from fastapi import APIRouter

from ticketing.console import actions, dispatch, edits, oncall, phone, views
from ticketing.console.pages import STATIC

router = APIRouter()
router.include_router(dispatch.router)
router.include_router(phone.router)
router.include_router(oncall.router)
router.include_router(views.router)
router.include_router(actions.router)
router.include_router(edits.router)

__all__ = ["STATIC", "router"]
