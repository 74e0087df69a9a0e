"""When a preventive plan is due (pure logic of ``ticketing.cmms.pm``): fixed and floating
calendars with lead time, fixed and floating meter thresholds, and the occurrence keys
that make each due occurrence unique."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ticketing.cmms.pm import calendar_due, meter_due

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def plan(**kw: Any) -> dict[str, Any]:
    base = {
        "every_days": None,
        "anchor": "fixed",
        "lead_days": 0,
        "start_at": T0,
        "every_meter": None,
        "lead_meter": 0.0,
        "start_meter": 0.0,
    }
    return {**base, **kw}


def test_fixed_calendar_counts_from_start_with_lead() -> None:
    p = plan(every_days=7, lead_days=2)
    assert calendar_due(p, None, T0 - timedelta(days=3)) is None  # before start - lead
    due = calendar_due(p, None, T0 - timedelta(days=2))
    assert due is not None and due.due_at == T0 and due.key == f"cal:{T0.isoformat()}"
    # 12 days on: the occurrence of day 14 is within the lead (2 days), so that one.
    due = calendar_due(p, None, T0 + timedelta(days=12))
    assert due is not None and due.due_at == T0 + timedelta(days=14)
    # Repeated scans within a period name the same occurrence (the key de-duplicates).
    again = calendar_due(p, None, T0 + timedelta(days=13))
    assert again is not None and again.key == due.key


def test_floating_calendar_counts_from_the_last_completion() -> None:
    p = plan(every_days=10, anchor="floating")
    done = {"resolved_at": T0 + timedelta(days=4), "done_meter": None}
    assert calendar_due(p, done, T0 + timedelta(days=13)) is None
    due = calendar_due(p, done, T0 + timedelta(days=14))
    assert due is not None and due.due_at == T0 + timedelta(days=14)


def test_fixed_meter_thresholds_are_multiples_from_start() -> None:
    p = plan(every_meter=250.0, start_meter=100.0, lead_meter=10.0)
    now = T0
    assert meter_due(p, None, 339.0, now) is None  # next is 350, lead 10 → from 340
    due = meter_due(p, None, 340.0, now)
    assert due is not None and due.meter_due == 350.0 and due.key == "meter:350"
    due = meter_due(p, None, 620.0, now)  # past 600: the 600 occurrence
    assert due is not None and due.meter_due == 600.0


def test_floating_meter_counts_from_the_reading_at_completion() -> None:
    p = plan(every_meter=24.0, anchor="floating")
    assert meter_due(p, None, 23.9, T0) is None
    first = meter_due(p, None, 24.0, T0)
    assert first is not None and first.meter_due == 24.0
    done = {"resolved_at": T0, "done_meter": 30.0}  # done late, at 30 h
    assert meter_due(p, done, 53.9, T0) is None
    nxt = meter_due(p, done, 54.0, T0)
    assert nxt is not None and nxt.meter_due == 54.0 and nxt.key != first.key


def test_a_plan_without_that_trigger_is_never_due_by_it() -> None:
    assert calendar_due(plan(every_meter=5.0), None, T0 + timedelta(days=999)) is None
    assert meter_due(plan(every_days=1), None, 1e9, T0) is None
