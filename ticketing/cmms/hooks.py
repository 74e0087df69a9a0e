"""Where ticket life meets maintenance work: called by ``ticketing.tickets`` and
``ticketing.records`` inside the ticket's own transaction, so a job plan, its reservations
and the ticket commit (or fail) together."""

from __future__ import annotations

from ticketing.store import Actor, Row, Tx


def opened(tx: Tx, actor: Actor, row: Row) -> None:
    """A new ticket (any source)."""


def pm_ticket_opened(tx: Tx, actor: Actor, row: Row, plan: Row) -> None:
    """A ticket a preventive plan opened."""


def fault_mode_changed(tx: Tx, actor: Actor, row: Row, old: str) -> None:
    """A ticket's fault mode was revised."""


def resolved(tx: Tx, actor: Actor, row: Row) -> None:
    """A ticket was resolved: remember the PM meter."""
    from ticketing.cmms import pm

    pm.resolved(tx, row)
