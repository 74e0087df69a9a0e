"""Pure parts of ticketing: state machine, routing scores, shifts, priorities, signing,
audit hashing and the settings section."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from forewarn.contract import AnomalyEvent
from forewarn.errors import SettingsError
from forewarn.settings import load
from ticketing import lifecycle, routing
from ticketing.config import ticketing_settings
from ticketing.intake import priority_for
from ticketing.notify import sign
from ticketing.store import GENESIS, canonical, chain_hash

MONDAY_10 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
DAY = [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}]


def eng(i: int, **kw) -> dict:
    base = {
        "id": i,
        "name": f"e{i}",
        "available": True,
        "max_load": 5,
        "asset_classes": ["pump"],
        "fault_modes": [],
        "certifications": [],
        "home_lat": None,
        "home_lon": None,
        "zones": [],
        "shifts": DAY,
        "on_call": False,
    }
    return {**base, **kw}


def test_every_state_has_rules_and_final_states_have_none() -> None:
    assert set(lifecycle.TRANSITIONS) == set(lifecycle.STATES)
    for state, targets in lifecycle.TRANSITIONS.items():
        assert set(targets) <= set(lifecycle.STATES), state
    assert lifecycle.allowed("cancelled") == []
    assert lifecycle.can_move("on_site", "resolved") and not lifecycle.can_move("new", "resolved")
    assert lifecycle.raise_priority("P2") == "P1" and lifecycle.raise_priority("P0") == "P0"
    assert set(lifecycle.PUBLIC_STATE) == set(lifecycle.STATES)


def test_overnight_shift_wraps_midnight() -> None:
    night = [{"days": [0], "start": "22:00", "end": "06:00"}]  # Monday night
    assert routing.on_shift(night, datetime(2026, 1, 5, 23, 0, tzinfo=UTC))
    assert routing.on_shift(night, datetime(2026, 1, 6, 5, 59, tzinfo=UTC))  # Tuesday early
    assert not routing.on_shift(night, datetime(2026, 1, 6, 6, 0, tzinfo=UTC))
    assert not routing.on_shift(night, datetime(2026, 1, 5, 21, 0, tzinfo=UTC))
    assert routing.on_shift(
        [{"days": [0], "start": "00:00", "end": "24:00"}], datetime(2026, 1, 5, 23, 59, tzinfo=UTC)
    )


def test_scores_add_up_and_ties_break_by_load_distance_id() -> None:
    job = routing.Job("s", "pump", "bearing_wear", 52.0, 4.0)
    ranked = routing.score(
        job, [eng(2), eng(1), eng(3, fault_modes=["bearing_wear"])], {1: 1}, MONDAY_10
    )
    assert [c.engineer_id for c in ranked] == [3, 2, 1]
    assert ranked[0].score == 40 + 30 + 15 and ranked[2].score == 40 + 15 - 5
    assert sum(p for _, p in ranked[0].parts) == ranked[0].score
    tie = routing.score(job, [eng(5), eng(4)], {}, MONDAY_10)
    assert [c.engineer_id for c in tie] == [4, 5]
    assert "Tie broken" in routing.explain(tie)


def test_exclusions_are_named() -> None:
    job = routing.Job("s", "pump", None, None, None)
    ranked = routing.score(
        job,
        [eng(1, available=False), eng(2, asset_classes=["fan"]), eng(3), eng(4, shifts=[])],
        {3: 5},
        MONDAY_10,
    )
    reasons = {c.engineer_id: c.excluded for c in ranked}
    assert reasons == {
        1: "unavailable",
        2: "no skill for pump",
        3: "at max load (5/5)",
        4: "off shift and not on call",
    }
    assert routing.explain(ranked).startswith("No eligible engineer")


def test_distance_score_falls_to_zero_at_the_scale() -> None:
    assert routing.haversine_km(52, 4, 53, 4) == pytest.approx(111.2, abs=0.1)
    job = routing.Job("s", "pump", None, 52.0, 4.0)
    near, far = routing.score(
        job,
        [eng(1, home_lat=52.0, home_lon=4.0), eng(2, home_lat=54.0, home_lon=4.0)],
        {},
        MONDAY_10,
        scale_km=100,
    )
    assert dict(near.parts)["0.0 km from home"] == 20 and "222.4 km from home" in dict(far.parts)
    assert dict(far.parts)["222.4 km from home"] == 0


def _event(**kw) -> AnomalyEvent:
    return AnomalyEvent.model_validate(
        {
            "event_id": "e",
            "site": "s",
            "asset": "a",
            "ts": "2026-01-05T00:00:00Z",
            "detector": {"name": "d", "version": "1", "config_hash": "h"},
            "score": 0.5,
            "severity": "warning",
            **kw,
        }
    )


def test_priority_from_severity_and_time_to_limit() -> None:
    assert priority_for(_event()) == "P2"
    assert priority_for(_event(severity="critical")) == "P1"
    assert priority_for(_event(time_to_limit_h=30)) == "P1"
    assert priority_for(_event(time_to_limit_h=2)) == "P0"


def test_webhook_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"a":1}'
    assert sign("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_audit_hash_depends_on_previous_hash_and_canonical_body() -> None:
    a = canonical({"b": 1, "a": MONDAY_10})
    assert a == '{"a":"2026-01-05T10:00:00+00:00","b":1}'
    assert chain_hash(GENESIS, a) != chain_hash("1" * 64, a)
    assert chain_hash(GENESIS, a) == hashlib.sha256((GENESIS + a).encode()).hexdigest()


def test_settings_section_validates_and_names_bad_keys() -> None:
    ok = ticketing_settings(load(path="/dev/null", environ={"FOREWARN_TICKETING__PORT": "9000"}))
    assert ok.port == 9000 and ok.webhook_max_attempts == 8
    with pytest.raises(SettingsError, match=r"ticketing\.port"):
        ticketing_settings(load(path="/dev/null", environ={"FOREWARN_TICKETING__PORT": "0"}))
    with pytest.raises(SettingsError, match=r"ticketing\.nope"):
        ticketing_settings(load(path="/dev/null", environ={"FOREWARN_TICKETING__NOPE": "1"}))
