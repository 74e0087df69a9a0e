"""Ticketing: the work-order service (lifecycle, routing, SLA timers, audit chain).

``create_app(settings)`` builds the FastAPI app; ``forewarn ticketing run`` serves it and
``forewarn tickets ...`` operates on tickets from a terminal.
"""

from ticketing.app import create_app
from ticketing.clock import Clock, ManualClock, SystemClock
from ticketing.config import TicketingSettings, ticketing_settings
from ticketing.errors import (
    AuditBroken,
    Conflict,
    Forbidden,
    Invalid,
    InvalidTransition,
    NotFound,
    TicketingError,
)

__all__ = [
    "AuditBroken",
    "Clock",
    "Conflict",
    "Forbidden",
    "Invalid",
    "InvalidTransition",
    "ManualClock",
    "NotFound",
    "SystemClock",
    "TicketingError",
    "TicketingSettings",
    "create_app",
    "ticketing_settings",
]
