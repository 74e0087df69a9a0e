"""Request and response models of the HTTP API (strict: unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
)

from forewarn.contract.tickets import WebhookEventType
from forewarn.contract.topics import ID_PATTERN
from ticketing.lifecycle import Priority, State


def _storable(value: str) -> str:
    """PostgreSQL text takes no NUL and only valid UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


Storable = AfterValidator(_storable)
MAX_ID = 2**53 - 1  # exact in JSON numbers everywhere
NO_NUL = r"^[^\x00]*$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=10_000, pattern=NO_NUL), Storable]
Short = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=NO_NUL),
    Storable,
]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]
ResolutionCode = Literal["confirmed", "no_fault_found", "fixed"]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketCreate(In):
    asset: Id
    source: Literal["customer", "scheduled", "manual"] = "manual"
    priority: Priority = "P2"
    fault_mode: Id | None = None
    title: Short
    description: Text = ""
    contact: Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL), Storable] | None = (
        None
    )


class TicketPatch(In):
    priority: Priority | None = None
    title: Short | None = None
    description: Text | None = None
    fault_mode: Id | None = Field(
        None,
        description="correct the suspected fault mode (an open ticket only); a 'confirmed'"
        " resolution tells the detectors it is the mode found",
    )


class TransitionIn(In):
    to: State
    note: Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL), Storable] | None = None
    resolution_code: ResolutionCode | None = Field(
        None, description="required when resolving: confirmed, no_fault_found or fixed"
    )
    confirmed_fault_mode: Id | None = Field(
        None, description="the fault found, with 'confirmed' or 'fixed'"
    )
    failure_at: AwareDatetime | None = Field(
        None, description="when the prevented failure would have happened, if known"
    )


class AssignIn(In):
    engineer_id: int = Field(ge=1, le=MAX_ID)
    reason: Annotated[str, StringConstraints(max_length=500, pattern=NO_NUL), Storable] = ""


class SubtaskIn(In):
    title: Short


class SubtaskPatch(In):
    done: bool


class CommentIn(In):
    body: Annotated[str, StringConstraints(min_length=1, max_length=5000, pattern=NO_NUL), Storable]
    internal: bool = Field(True, description="internal comments never reach the customer")


class AttachmentIn(In):
    filename: Annotated[
        str, StringConstraints(min_length=1, max_length=255, pattern=NO_NUL), Storable
    ]
    content_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]{1,64}/[\w.+-]{1,64}$")]
    size_bytes: int = Field(ge=0, le=10 * 2**30)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    url: Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL), Storable] | None = None


class Subtask(BaseModel):
    id: int
    title: str
    done: bool
    created_at: datetime
    done_at: datetime | None


class Comment(BaseModel):
    id: int
    author: str
    role: str
    body: str
    internal: bool
    created_at: datetime


class Attachment(BaseModel):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str | None
    url: str | None
    uploaded_by: str
    created_at: datetime


class Evidence(BaseModel):
    event_id: str
    ts: datetime
    severity: str
    score: float
    detector: str | None
    outcome: str


class RoutingDecision(BaseModel):
    at: datetime
    reason: str
    engineer_id: int | None
    explanation: str
    candidates: list[dict[str, Any]]


class TicketOut(BaseModel):
    id: int
    tracking_code: str
    asset: str
    site: str
    source: str
    priority: str
    fault_mode: str
    title: str
    description: str
    state: str
    engineer_id: int | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    response_due: datetime | None
    resolution_due: datetime | None
    response_breached_at: datetime | None
    resolution_breached_at: datetime | None
    escalations: int
    customer_reported_at: datetime | None
    resolution_code: str | None
    confirmed_fault_mode: str | None
    allowed_transitions: list[str]


class TicketDetail(TicketOut):
    subtasks: list[Subtask]
    comments: list[Comment]
    attachments: list[Attachment]
    evidence: list[Evidence] = Field(description="the newest 100 anomaly events")
    evidence_total: int
    routing: list[RoutingDecision]


class CreateResult(BaseModel):
    ticket: TicketOut
    linked_to_predictive: bool = Field(
        False, description="a customer report joined an open predictive ticket (we were first)"
    )


class AnomalyResult(BaseModel):
    event_id: str
    outcome: Literal["opened", "evidence", "historical", "cleared", "duplicate"]
    ticket_id: int | None
    priority: str | None = None
    engineer_id: int | None = None


class TimelineEvent(BaseModel):
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    before: Any
    after: Any


class TrackStep(BaseModel):
    at: datetime
    status: str


class TrackOut(BaseModel):
    """What a customer sees: progress only, no names, notes or internal data."""

    tracking_code: str
    status: str
    opened_at: datetime
    updated_at: datetime
    history: list[TrackStep]
    messages: list[str]


class Shift(In):
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        min_length=1, max_length=7, description="0 = Monday"
    )
    start: HHMM
    end: HHMM


Tags = Annotated[list[Id], Field(max_length=50)]


class EngineerIn(In):
    name: Short
    email: Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL), Storable] | None = None
    asset_classes: Tags = []
    fault_modes: Tags = []
    certifications: Tags = []
    home_lat: float | None = Field(None, ge=-90, le=90)
    home_lon: float | None = Field(None, ge=-180, le=180)
    zones: Tags = []
    shifts: Annotated[list[Shift], Field(max_length=21)] = []
    on_call: bool = False
    available: bool = True
    supervisor: bool = False
    max_load: int = Field(8, ge=1, le=100)


class EngineerPatch(In):
    name: Short | None = None
    email: Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL), Storable] | None = None
    asset_classes: Tags | None = None
    fault_modes: Tags | None = None
    certifications: Tags | None = None
    home_lat: float | None = Field(None, ge=-90, le=90)
    home_lon: float | None = Field(None, ge=-180, le=180)
    zones: Tags | None = None
    shifts: Annotated[list[Shift], Field(max_length=21)] | None = None
    on_call: bool | None = None
    available: bool | None = None
    supervisor: bool | None = None
    max_load: int | None = Field(None, ge=1, le=100)


class EngineerOut(BaseModel):
    id: int
    name: str
    email: str | None
    asset_classes: list[str]
    fault_modes: list[str]
    certifications: list[str]
    home_lat: float | None
    home_lon: float | None
    zones: list[str]
    shifts: list[dict[str, Any]]
    on_call: bool
    available: bool
    supervisor: bool
    max_load: int
    load: int


class SlaPolicy(In):
    response_minutes: int = Field(ge=1, le=525_600)
    resolution_minutes: int = Field(ge=1, le=525_600)
    warn_before_minutes: int = Field(ge=0, le=525_600)


class SlaPolicyOut(SlaPolicy):
    priority: str
    site: str = Field(description="the site it applies to, or * (the default)")


EventType = Literal["*", WebhookEventType]  # a type nothing emits would never fire


class WebhookIn(In):
    url: HttpUrl
    event_types: list[EventType] = Field(
        min_length=1, max_length=32, description="event types (ticket.created, stock.low, ...) or *"
    )
    secret: (
        Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=NO_NUL), Storable]
        | None
    ) = Field(None, description="HMAC key; generated when absent and shown once")


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime
    secret: str | None = Field(None, description="only in the response that created it")


class DeliveryOut(BaseModel):
    id: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Me(BaseModel):
    name: str
    role: str
    engineer_id: int | None
    sites: list[str] | None = Field(None, description="the token's site scope; null: all")


class VerifyOut(BaseModel):
    ok: bool
    events: int | None
    broken_at: int | None = None
    reason: str | None = None


class KpiRow(BaseModel):
    group: str | None
    tickets: int
    time_to_acknowledge_h: float | None
    time_to_repair_h: float | None
    sla_compliance: float | None
    first_time_fix: float | None
    predictive_lead_time_h: float | None
    ticketed_before_customer: float | None


class KpiOut(BaseModel):
    group_by: str
    rows: list[KpiRow]


class ErrorOut(BaseModel):
    """Every 4xx: ``detail`` says what is wrong (a list of field errors for 422 validation)."""

    model_config = ConfigDict(extra="allow")
    detail: str | list[Any]
