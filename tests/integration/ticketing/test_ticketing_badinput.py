"""Bad input gets a 4xx with a message and changes nothing. Tried here: unknown ticket,
asset, engineer and sub-task ids; out-of-range ids; oversized fields and bodies; unknown
fields; malformed JSON; NUL bytes; bad enums; duplicate submissions by Idempotency-Key."""

from __future__ import annotations

from typing import Any

import pytest
from ticketing_helpers import anomaly, auth, uid


@pytest.fixture
def ticket(client, tokens, make_asset) -> dict[str, Any]:
    r = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(f"pump_{uid()}"), "title": "x"},
    )
    return r.json()["ticket"]


def _detail(r: Any) -> str:
    return str(r.json()["detail"])


def test_unknown_ids_are_404_with_the_id(client, tokens, ticket) -> None:
    h = auth(tokens["admin"])
    cases = [
        ("GET", "/tickets/999999999", None, "ticket 999999999 not found"),
        ("POST", "/tickets/999999999/transitions", {"to": "accepted"}, "ticket 999999999"),
        ("POST", "/tickets/999999999/comments", {"body": "hi"}, "ticket 999999999"),
        ("POST", "/tickets", {"asset": "no-such-asset", "title": "x"}, "asset no-such-asset"),
        (
            "POST",
            f"/tickets/{ticket['id']}/assign",
            {"engineer_id": 999999999},
            "engineer 999999999 not found",
        ),
        ("PATCH", f"/tickets/{ticket['id']}/subtasks/999999999", {"done": True}, "sub-task"),
        ("GET", "/engineers/999999999", None, "engineer 999999999"),
        ("PATCH", "/engineers/999999999", {"on_call": True}, "engineer 999999999"),
        ("GET", "/webhooks/999999999/deliveries", None, "webhook 999999999"),
        ("GET", "/track/ZZZZZZZZZZ", None, "tracking code ZZZZZZZZZZ"),
    ]
    for method, url, body, text in cases:
        r = client.request(method, url, json=body, headers=h)
        assert r.status_code == 404, (url, r.status_code, r.text)
        assert text in _detail(r), (url, r.text)


def test_malformed_values_are_422_with_the_field(client, tokens, ticket, make_asset) -> None:
    h = auth(tokens["admin"])
    asset = make_asset(f"fan_{uid()}")
    cases = [
        ("GET", "/tickets/0", None, "ticket_id"),
        ("GET", f"/tickets/{2**63}", None, "ticket_id"),
        ("GET", "/tickets/abc", None, "ticket_id"),
        ("POST", "/tickets", {"asset": asset, "title": "x" * 201}, "title"),
        (
            "POST",
            "/tickets",
            {"asset": asset, "title": "x", "description": "d" * 10_001},
            "description",
        ),
        ("POST", "/tickets", {"asset": asset, "title": "x", "priority": "P9"}, "priority"),
        ("POST", "/tickets", {"asset": asset, "title": "x", "source": "predictive"}, "source"),
        ("POST", "/tickets", {"asset": asset, "title": "x", "owner": "me"}, "owner"),
        ("POST", "/tickets", {"asset": "bad/asset", "title": "x"}, "asset"),
        ("POST", "/tickets", {"asset": asset, "title": "nul\x00byte"}, "title"),
        ("PATCH", f"/tickets/{ticket['id']}/subtasks/1", {"done": 0}, "done"),
        ("POST", f"/tickets/{ticket['id']}/comments", {"body": "c" * 5001}, "body"),
        ("POST", f"/tickets/{ticket['id']}/transitions", {"to": "flying"}, "to"),
        (
            "POST",
            f"/tickets/{ticket['id']}/attachments",
            {"filename": "a", "content_type": "not a type", "size_bytes": -1},
            "content_type",
        ),
        ("POST", "/engineers", {"name": "x", "home_lat": 91}, "home_lat"),
        (
            "POST",
            "/engineers",
            {"name": "x", "shifts": [{"days": [7], "start": "25:00", "end": "08:00"}]},
            "shifts",
        ),
        ("POST", "/anomalies", {**anomaly(asset), "score": 2}, "score"),
        ("POST", "/webhooks", {"url": "not a url", "event_types": ["x"]}, "url"),
        ("GET", "/kpis?group_by=planet", None, "group_by"),
        ("GET", "/tickets?limit=100000", None, "limit"),
    ]
    for method, url, body, field in cases:
        r = client.request(method, url, json=body, headers=h)
        assert r.status_code == 422, (url, body, r.status_code, r.text[:300])
        assert field in r.text, (url, r.text[:300])
    lone = client.post(
        "/tickets",
        content=b'{"asset": "%s", "title": "lone \\ud800"}' % asset.encode(),
        headers={**h, "content-type": "application/json"},
    )
    assert lone.status_code == 422 and lone.json()["detail"], lone.text  # never stored
    broken = client.post(
        "/tickets", content=b'{"asset": ', headers={**h, "content-type": "application/json"}
    )
    assert broken.status_code == 422 and "json" in broken.text.lower()
    n = client.get(f"/tickets?asset={asset}", headers=h).json()
    assert n == []  # nothing was created by any of it


def test_oversized_body_is_413(client, tokens) -> None:
    big = "x" * (client.app.state.config.max_body_bytes + 1)
    r = client.post(
        "/tickets",
        content=big,
        headers={**auth(tokens["admin"]), "content-type": "application/json"},
    )
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


def test_duplicate_submission_with_idempotency_key_creates_one_ticket(
    client, tokens, make_asset
) -> None:
    asset = make_asset(f"pump_{uid()}")
    h = {**auth(tokens["integration"]), "Idempotency-Key": f"order-{uid()}"}
    body = {"asset": asset, "title": "scheduled service", "source": "scheduled"}
    first = client.post("/tickets", json=body, headers=h)
    again = client.post("/tickets", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = client.post("/tickets", json={**body, "title": "something else"}, headers=h)
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    listed = client.get(f"/tickets?asset={asset}", headers=auth(tokens["admin"])).json()
    assert len(listed) == 1
    # The key is per token: another caller's same key is its own request.
    h2 = {**auth(tokens["dispatcher"]), "Idempotency-Key": h["Idempotency-Key"]}
    assert client.post("/tickets", json=body, headers=h2).status_code == 201
    # A failed request does not burn the key.
    k = {**auth(tokens["admin"]), "Idempotency-Key": f"k-{uid()}"}
    bad = {"asset": "missing-asset", "title": "x"}
    assert client.post("/tickets", json=bad, headers=k).status_code == 404
    assert client.post("/tickets", json=bad, headers=k).status_code == 404


def test_duplicate_transition_and_reopen_conflicts(client, tokens, ticket) -> None:
    h = auth(tokens["admin"])
    tid = ticket["id"]
    key = {**h, "Idempotency-Key": f"cancel-{uid()}"}
    assert (
        client.post(
            f"/tickets/{tid}/transitions", json={"to": "cancelled"}, headers=key
        ).status_code
        == 200
    )
    # The retry of the same request replays; without the key it is a 409 with no moves left.
    assert (
        client.post(
            f"/tickets/{tid}/transitions", json={"to": "cancelled"}, headers=key
        ).status_code
        == 200
    )
    r = client.post(f"/tickets/{tid}/transitions", json={"to": "cancelled"}, headers=h)
    assert r.status_code == 409 and r.json()["allowed"] == []
    assert "final state" in r.json()["detail"]
    r = client.post(f"/tickets/{tid}/subtasks", json={"title": "late"}, headers=h)
    assert r.status_code == 409
    r = client.post(f"/tickets/{tid}/assign", json={"engineer_id": 1}, headers=h)
    assert r.status_code == 409


def test_reopening_a_second_predictive_ticket_for_the_same_fault_is_409(
    client, tokens, make_asset, make_engineer, engineer_token
) -> None:
    cls = f"pump_{uid()}"
    asset = make_asset(cls)
    h = auth(tokens["admin"])
    first = client.post("/anomalies", json=anomaly(asset), headers=h).json()["ticket_id"]
    client.post(f"/tickets/{first}/transitions", json={"to": "cancelled"}, headers=h)
    second = client.post("/anomalies", json=anomaly(asset), headers=h).json()
    assert second["outcome"] == "opened" and second["ticket_id"] != first
    make_engineer("x", asset_classes=[cls])
    # (cancelled is final, so try with a resolved one instead)
    t2 = second["ticket_id"]
    eng = client.get(f"/tickets/{t2}", headers=h).json()["engineer_id"]
    if eng is None:
        client.post(f"/tickets/{t2}/assign", json={"engineer_id": 1}, headers=h)
    for to in ("accepted", "en_route", "on_site"):
        client.post(f"/tickets/{t2}/transitions", json={"to": to}, headers=h)
    r = client.post(
        f"/tickets/{t2}/transitions",
        headers=h,
        json={"to": "resolved", "resolution_code": "no_fault_found"},
    )
    assert r.status_code == 200, r.text
    third = client.post("/anomalies", json=anomaly(asset), headers=h).json()
    assert third["outcome"] == "opened"
    r = client.post(f"/tickets/{t2}/transitions", json={"to": "assigned"}, headers=h)
    assert r.status_code == 409
    assert "open predictive ticket already exists" in r.json()["detail"]


def test_idempotency_keys_expire_after_their_ttl(app, client, tokens, make_asset, clock) -> None:
    asset = make_asset(f"pump_{uid()}")
    h = {**auth(tokens["dispatcher"]), "Idempotency-Key": f"ttl-{uid()}"}
    body = {"asset": asset, "title": "x"}
    first = client.post("/tickets", json=body, headers=h).json()["ticket"]["id"]
    app.state.expire_keys()
    assert client.post("/tickets", json=body, headers=h).json()["ticket"]["id"] == first
    clock.advance(hours=app.state.config.idempotency_ttl_h + 1)
    app.state.expire_keys()
    assert client.post("/tickets", json=body, headers=h).json()["ticket"]["id"] != first
