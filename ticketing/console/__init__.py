"""The operator web console: server-rendered pages over the ticketing service's own data
access and auth (same roles, same state machine), with inline-SVG charts and no CDN."""

from ticketing.console.views import STATIC, router

__all__ = ["STATIC", "router"]
