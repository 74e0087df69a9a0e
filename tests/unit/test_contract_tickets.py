"""Ticket events, low stock and detector feedback are contract models, published as JSON
Schema; the webhook event types documented are exactly those the code may emit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest
from jsonschema import Draft202012Validator

from forewarn.contract import (
    DetectorFeedback,
    StockLow,
    TicketEvent,
    decode,
    encode,
    json_schema,
    topics,
)
from forewarn.contract import tickets as contract_tickets
from forewarn.contract.schema import SCHEMAS, write_all
from forewarn.errors import ContractError
from forewarn.supervisor import describe
from ticketing import lifecycle, schemas

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schema"
TICKETING_MD = DOCS.parent / "ticketing.md"
CREATED = {
    "event": "ticket.created",
    "at": "2026-11-30T10:00:00.123456+00:00",
    "ticket_id": 7,
    "id": 7,
    "site": "plant-a",
    "asset": "pump-17",
    "source": "predictive",
    "priority": "P1",
    "fault_mode": "bearing_wear",
    "state": "new",
    "engineer_id": None,
    "actor": "system",
    "title": "bearing wear suspected on pump-17",
}


def test_the_contract_publishes_ticketings_own_literals() -> None:
    """The contract imports no service; this holds its copies equal to ticketing's."""
    assert get_args(contract_tickets.TicketState) == get_args(lifecycle.State)
    assert get_args(contract_tickets.Priority) == get_args(lifecycle.Priority)
    assert get_args(contract_tickets.Source) == get_args(lifecycle.Source)
    assert get_args(contract_tickets.ResolutionCode) == get_args(schemas.ResolutionCode)


def test_a_ticket_event_round_trips_and_validates_against_its_schema() -> None:
    event = decode(TicketEvent, json.dumps(CREATED))
    assert event.ticket_id == 7 and event.engineer_id is None
    wire = encode(event)
    assert decode(TicketEvent, wire) == event
    validator = Draft202012Validator(
        json_schema("ticket"), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(json.loads(wire))
    validator.validate(CREATED)  # the webhook body, nulls kept, is valid too


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event": "ticket.escalated"}, "event"),  # no such event: the supervisor guessed it
        ({"state": "done"}, "state"),
        ({"ticket_id": "7"}, "ticket_id"),
        ({"engineer": "alice"}, "engineer"),  # unknown fields are refused
        ({"subtask": 3}, "subtask"),  # a sub-task is a reference {"id": n}
    ],
)
def test_a_ticket_event_off_the_contract_is_refused(change: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError, match=field):
        decode(TicketEvent, json.dumps({**CREATED, **change}))


def test_feedback_is_a_model_with_a_schema_and_no_topic() -> None:
    fb = DetectorFeedback.model_validate(
        {
            "ticket_id": 7,
            "site": "plant-a",
            "asset": "pump-17",
            "fault_mode": "bearing_wear",
            "resolution_code": "no_fault_found",
            "event_ids": ["e1"],
            "opened_at": "2026-11-30T10:00:00Z",
            "resolved_at": "2026-11-30T12:00:00Z",
        }
    )
    Draft202012Validator(json_schema("feedback")).validate(json.loads(encode(fb)))
    with pytest.raises(ContractError, match="resolution_code"):
        decode(DetectorFeedback, encode(fb).replace(b"no_fault_found", b"cancelled"))
    assert not [name for name in dir(contract_tickets) if "topic" in name]


def test_the_schema_command_exports_every_message_and_docs_are_current(tmp_path: Path) -> None:
    assert {"telemetry", "anomaly", "status", "ticket", "stock", "feedback"} <= set(SCHEMAS)
    for path in write_all(tmp_path):
        assert (DOCS / path.name).read_text() == path.read_text(), f"regenerate {path.name}"


def test_the_demo_console_describes_typed_ticket_events() -> None:
    created = decode(TicketEvent, json.dumps(CREATED))
    assert describe(created) == (
        "#7 created priority=P1 asset=pump-17 fault_mode=bearing_wear state=new"
    )
    escalated = created.model_copy(
        update={
            "event": "ticket.assigned",
            "engineer_id": 3,
            "state": "assigned",
            "changes": {"note": "routing (escalation): next on call"},
        }
    )
    assert describe(escalated).startswith("#7 escalated ")  # type: ignore[union-attr]
    resolved = created.model_copy(update={"event": "ticket.state_changed", "state": "resolved"})
    assert describe(resolved) == (
        "#7 resolved priority=P1 asset=pump-17 fault_mode=bearing_wear state=resolved"
    )
    assert describe(created.model_copy(update={"event": "ticket.commented"})) is None


def test_low_stock_is_a_model_on_a_contract_topic() -> None:
    body = {
        "event": "stock.low",
        "at": "2026-11-30T10:00:00Z",
        "part_id": 12,
        "sku": "brg-6205",
        "name": "bearing 6205",
        "store": "main",
        "site": None,
        "available": 1,
        "reorder_point": 2,
    }
    low = decode(StockLow, json.dumps(body))
    Draft202012Validator(json_schema("stock")).validate(json.loads(encode(low)))
    Draft202012Validator(json_schema("stock")).validate(body)  # the webhook body
    for change, field in [({"quantity": 1}, "quantity"), ({"available": "1"}, "available")]:
        with pytest.raises(ContractError, match=field):
            decode(StockLow, json.dumps({**body, **change}))
    assert topics.stock_low(None) == "forewarn/v1/all/stock/low"
    where = topics.parse(topics.stock_low("plant-a"))
    assert (where.kind, where.site, where.asset) == ("stock", "plant-a", None)


def test_the_documented_webhook_events_are_those_the_code_can_emit() -> None:
    """docs/ticketing.md's list equals ``WebhookEventType``, the set ``Tx.emit`` accepts."""
    text = TICKETING_MD.read_text()
    start = text.index("- Webhooks (`POST /webhooks`")
    listed = re.findall(r"`([a-z_]+\.[a-z_]+)`", text[start : text.index("or `*`", start)])
    emittable = get_args(contract_tickets.WebhookEventType)
    assert sorted(listed) == sorted(emittable)
    assert set(get_args(contract_tickets.TicketEventType)) < set(emittable)
