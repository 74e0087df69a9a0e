"""Typed ticketing failures; the API maps each to one HTTP status with its data."""

from __future__ import annotations

from typing import Any

from forewarn.errors import ForewarnError


class TicketingError(ForewarnError):
    status = 400

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class NotFound(TicketingError):
    status = 404

    def __init__(self, entity: str, ident: object) -> None:
        super().__init__(f"{entity} {ident} not found", entity=entity, id=str(ident))


class Forbidden(TicketingError):
    status = 403


class Conflict(TicketingError):
    status = 409


class InvalidTransition(Conflict):
    def __init__(self, ticket_id: int, state: str, to: str, allowed: list[str]) -> None:
        super().__init__(
            f"ticket {ticket_id} cannot go from {state!r} to {to!r}; allowed: "
            + (", ".join(allowed) or "none (final state)"),
            ticket_id=ticket_id,
            state=state,
            to=to,
            allowed=allowed,
        )


class Invalid(TicketingError):
    status = 422


class AuditBroken(TicketingError):
    """The audit chain does not verify: a row was changed, removed or inserted."""

    status = 500

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"audit chain broken at event {seq}: {reason}", seq=seq, reason=reason)
