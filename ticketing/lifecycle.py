"""The ticket state machine: the one place that says which moves are legal."""

from __future__ import annotations

from typing import get_args

# the wire contract owns the names; ticketing re-exports them for its own modules
from forewarn.contract.tickets import Priority as Priority
from forewarn.contract.tickets import Source as Source
from forewarn.contract.tickets import TicketState as State

STATES: tuple[str, ...] = get_args(State)
CLOSED_STATES = frozenset({"resolved", "closed", "cancelled"})
PRIORITIES: tuple[str, ...] = get_args(Priority)

# Moves by state change. Assignment/reassignment goes through the assign operation, which
# lands in "assigned"; reopening is resolved/closed -> assigned (or new when unassigned).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("assigned", "cancelled"),
    "assigned": ("accepted", "new", "cancelled"),
    "accepted": ("en_route", "waiting_parts", "assigned", "cancelled"),
    "en_route": ("on_site", "waiting_parts", "accepted", "cancelled"),
    "on_site": ("resolved", "waiting_parts", "en_route"),
    "waiting_parts": ("en_route", "on_site", "accepted", "cancelled"),
    "resolved": ("closed", "assigned", "new"),
    "closed": ("assigned", "new"),
    "cancelled": (),
}
ASSIGNABLE = frozenset({"new", "assigned", "accepted", "en_route", "waiting_parts"})

# What a customer may see of a state (no internal detail).
PUBLIC_STATE = {
    "new": "received",
    "assigned": "scheduled",
    "accepted": "scheduled",
    "en_route": "technician on the way",
    "on_site": "technician on site",
    "waiting_parts": "waiting for parts",
    "resolved": "resolved",
    "closed": "closed",
    "cancelled": "cancelled",
}


def allowed(state: str) -> list[str]:
    return list(TRANSITIONS.get(state, ()))


def can_move(state: str, to: str) -> bool:
    return to in TRANSITIONS.get(state, ())


def is_open(state: str) -> bool:
    return state not in CLOSED_STATES


def open_sql(alias: str = "") -> str:
    """The SQL condition "the ticket is open", the one spelling of :func:`is_open` for queries
    (and the Grafana dashboards). It reads like the partial indexes of migration 0040, so the
    planner can use them and ``on conflict ... where`` can name ``tickets_one_open_predictive``."""
    column = f"{alias}.state" if alias else "state"
    closed = ", ".join(f"'{s}'" for s in STATES if s in CLOSED_STATES)
    return f"{column} not in ({closed})"


OPEN = open_sql()  # state not in ('resolved', 'closed', 'cancelled')
T_OPEN = open_sql("t")  # the same on a table aliased t


def raise_priority(priority: str) -> str:
    """One step more urgent (P2 -> P1 -> P0)."""
    i = PRIORITIES.index(priority)
    return PRIORITIES[max(0, i - 1)]


def more_urgent(a: str, b: str) -> str:
    return a if PRIORITIES.index(a) <= PRIORITIES.index(b) else b
