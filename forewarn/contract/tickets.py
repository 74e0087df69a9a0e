"""What ticketing tells the rest of the system: ticket events, low stock, detector feedback.

``TicketEvent`` is published on ``forewarn/v1/{site}/tickets/{ticket}/event`` (QoS 1) after
each committed change, and is also the body of the signed webhooks. ``DetectorFeedback`` is
the resolution of a predictive ticket, which the detectors learn from. It travels one way
only, the durable one: ticketing writes it into the ``detector_feedback`` table in the same
transaction as the resolution, and the worker owning the asset applies it at its next poll
(recording what it applied in ``detector_feedback_applied``, so each is applied once). An
MQTT topic would add a second path to keep consistent, and a worker that is down, or a
partition moved to another worker, would need the table anyway to catch up. The webhook
``ticket.feedback`` carries the same record to outside systems. ``StockLow`` is published on
``forewarn/v1/{site}/stock/low`` (QoS 1) when a store's stock falls to its reorder point.
``WebhookEventType`` is every event type ticketing can emit: ``Tx.emit`` refuses any other,
and the webhook list in docs/ticketing.md is tested against it.

The literal types mirror ``ticketing/lifecycle.py``, whose state machine they publish;
a test holds the two equal (the contract imports no service).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from forewarn.contract.models import MAX_SEQ, Id, Timestamp, _Model

TicketState = Literal[
    "new",
    "assigned",
    "accepted",
    "en_route",
    "on_site",
    "waiting_parts",
    "resolved",
    "closed",
    "cancelled",
]
Priority = Literal["P0", "P1", "P2"]
Source = Literal["predictive", "customer", "scheduled", "manual"]
ResolutionCode = Literal["confirmed", "no_fault_found", "fixed"]
TicketEventType = Literal[
    "ticket.created",
    "ticket.assigned",
    "ticket.state_changed",
    "ticket.updated",
    "ticket.evidence",
    "ticket.customer_report",
    "ticket.customer_reply",
    "ticket.commented",
    "ticket.attached",
    "ticket.subtask_added",
    "ticket.subtask",
    "ticket.rated",
    "ticket.signed_off",
    "sla.warning",
    "sla.breached",
]
StockEventType = Literal["stock.low"]
WebhookEventType = Literal[TicketEventType, "ticket.feedback", StockEventType]


class Ref(_Model):
    """A record attached to the ticket (comment, attachment, sub-task), by its id."""

    id: int = Field(ge=1, le=MAX_SEQ)


class TicketEvent(_Model):
    """One committed change of a ticket (topic ``forewarn/v1/{site}/tickets/{ticket}/event``).

    The ticket's summary after the change, who made it and what it was; the fields after
    ``actor`` are present only for the event types that name them.
    """

    v: Literal[1] = 1
    event: TicketEventType
    at: Timestamp = Field(description="when the change was committed")
    ticket_id: int = Field(ge=1, le=MAX_SEQ)
    id: int = Field(ge=1, le=MAX_SEQ, description="the ticket id again (as in the REST API)")
    site: Id
    asset: Id
    source: Source
    priority: Priority
    fault_mode: Id | None = None
    state: TicketState
    engineer_id: int | None = Field(None, ge=1, le=MAX_SEQ)
    actor: str | None = Field(None, max_length=256, description="token holder or 'system'")
    action: str | None = Field(None, max_length=64, description="audit action, e.g. state_resolved")
    changes: dict[str, Any] | None = Field(
        None, description="changed ticket fields after the change, and the note"
    )
    title: str | None = Field(None, description="ticket.created")
    comment: Ref | None = Field(None, description="ticket.commented, ticket.customer_reply")
    attachment: Ref | None = Field(None, description="ticket.attached")
    subtask: Ref | None = Field(None, description="ticket.subtask_added, ticket.subtask")
    done: bool | None = Field(None, description="ticket.subtask: the sub-task's new state")
    message: str | None = Field(None, description="ticket.customer_reply: the customer's text")
    score: int | None = Field(None, ge=1, le=5, description="ticket.rated")
    name: str | None = Field(None, description="ticket.signed_off: who signed")
    satisfied: bool | None = Field(None, description="ticket.signed_off")
    signature_sha256: str | None = Field(None, description="ticket.signed_off")


class StockLow(_Model):
    """A store fell to its reorder point (topic ``forewarn/v1/{site}/stock/low``).

    Sent once until the store is refilled above the point; ``site`` is null for a store
    shared by all sites (then published under the site ``all``).
    """

    v: Literal[1] = 1
    event: StockEventType = "stock.low"
    at: Timestamp = Field(description="when the stock change was committed")
    part_id: int = Field(ge=1, le=MAX_SEQ)
    sku: Id
    name: str = Field(max_length=200, description="the part's name")
    store: Id
    site: Id | None = Field(None, description="the store's site; null: shared by all sites")
    available: int = Field(ge=0, description="on hand minus reserved, after the change")
    reorder_point: int = Field(ge=0)


class DetectorFeedback(_Model):
    """What the engineer found on a predictive ticket, for the detectors to learn from.

    A row of ``detector_feedback`` (one per resolved predictive ticket, updated on a
    re-resolution), and the body of the ``ticket.feedback`` webhook.
    """

    v: Literal[1] = 1
    ticket_id: int = Field(ge=1, le=MAX_SEQ)
    site: Id
    asset: Id
    fault_mode: Id = Field(description="the fault mode the ticket was opened for")
    resolution_code: ResolutionCode
    confirmed_fault_mode: Id | None = None
    event_ids: list[str] = Field(
        default_factory=list, description="the anomaly events behind the ticket, oldest first"
    )
    opened_at: Timestamp
    resolved_at: Timestamp
