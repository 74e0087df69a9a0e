"""Ticket lifecycle through the HTTP API: the state machine, sub-tasks, comments, tracking."""

from __future__ import annotations

from typing import Any

from ticketing_helpers import auth, uid


def _open(client: Any, tokens: dict[str, str], asset: str, **kw: Any) -> dict[str, Any]:
    body = {"asset": asset, "title": "pump noisy", "source": "manual", **kw}
    r = client.post("/tickets", json=body, headers=auth(tokens["dispatcher"]))
    assert r.status_code == 201, r.text
    return r.json()["ticket"]


def test_full_lifecycle_with_subtasks_and_tracking(
    client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    cls = f"pump_{uid()}"
    asset = make_asset(cls)
    eng = make_engineer("Ann", asset_classes=[cls], home_lat=52.0, home_lon=4.0)
    ticket = _open(client, tokens, asset, priority="P1")
    assert ticket["state"] == "assigned" and ticket["engineer_id"] == eng
    tid = ticket["id"]
    me = auth(engineer_token(eng))

    # An illegal move answers 409 and names the allowed ones.
    r = client.post(f"/tickets/{tid}/transitions", json={"to": "resolved"}, headers=me)
    assert r.status_code == 409
    assert r.json()["allowed"] == ["accepted", "new", "cancelled"]
    assert "allowed" in r.json()["detail"]

    st = client.post(f"/tickets/{tid}/subtasks", json={"title": "order bearing"}, headers=me)
    assert st.status_code == 201
    for to in ("accepted", "en_route", "on_site"):
        clock.advance(minutes=10)
        r = client.post(f"/tickets/{tid}/transitions", json={"to": to}, headers=me)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == to
    # Resolving needs a code and closed sub-tasks.
    r = client.post(f"/tickets/{tid}/transitions", json={"to": "resolved"}, headers=me)
    assert r.status_code == 422 and "resolution_code" in r.json()["detail"]
    r = client.post(
        f"/tickets/{tid}/transitions",
        json={"to": "resolved", "resolution_code": "fixed"},
        headers=me,
    )
    assert r.status_code == 409 and r.json()["subtasks"] == [st.json()["id"]]
    r = client.patch(f"/tickets/{tid}/subtasks/{st.json()['id']}", json={"done": True}, headers=me)
    assert r.status_code == 200 and r.json()["done"] is True
    client.post(
        f"/tickets/{tid}/comments",
        json={"body": "replaced bearing, all good", "internal": False},
        headers=me,
    )
    client.post(f"/tickets/{tid}/comments", json={"body": "customer was rude"}, headers=me)
    r = client.post(
        f"/tickets/{tid}/attachments",
        headers=me,
        json={"filename": "photo.jpg", "content_type": "image/jpeg", "size_bytes": 12345},
    )
    assert r.status_code == 201
    r = client.post(
        f"/tickets/{tid}/transitions",
        json={"to": "resolved", "resolution_code": "fixed"},
        headers=me,
    )
    assert r.status_code == 200 and r.json()["allowed_transitions"] == ["closed", "assigned", "new"]
    # Engineers may not close; a dispatcher does.
    assert (
        client.post(f"/tickets/{tid}/transitions", json={"to": "closed"}, headers=me).status_code
        == 403
    )
    r = client.post(
        f"/tickets/{tid}/transitions", json={"to": "closed"}, headers=auth(tokens["dispatcher"])
    )
    assert r.json()["state"] == "closed"

    detail = client.get(f"/tickets/{tid}", headers=me).json()
    assert len(detail["comments"]) == 2 and detail["attachments"][0]["filename"] == "photo.jpg"
    assert detail["routing"][0]["engineer_id"] == eng

    # The customer sees progress, without names or internal notes, and without a token.
    track = client.get(f"/track/{ticket['tracking_code']}").json()
    assert track["status"] == "closed"
    assert [h["status"] for h in track["history"]] == [
        "received",
        "scheduled",
        "technician on the way",
        "technician on site",
        "resolved",
        "closed",
    ]
    assert track["messages"] == ["replaced bearing, all good"]
    text = str(track)
    assert "Ann" not in text and "rude" not in text and str(eng) not in text.split("tracking")[0]

    # Reopen, then the timeline holds every change.
    r = client.post(
        f"/tickets/{tid}/transitions", json={"to": "assigned"}, headers=auth(tokens["dispatcher"])
    )
    assert r.status_code == 200 and r.json()["resolved_at"] is None
    actions = [e["action"] for e in client.get(f"/tickets/{tid}/events", headers=me).json()]
    assert actions[0] == "created" and actions[-1] == "reopened"
    assert {
        "state_accepted",
        "subtask_added",
        "subtask_done",
        "commented",
        "attached",
        "state_resolved",
        "state_closed",
    } <= set(actions)


def test_engineer_sees_only_own_tickets(
    client, tokens, make_asset, make_engineer, engineer_token
) -> None:
    cls = f"fan_{uid()}"
    a1, a2 = make_asset(cls), make_asset(cls)
    e1 = make_engineer("E1", asset_classes=[cls])
    t1 = _open(client, tokens, a1)
    e2 = make_engineer("E2", asset_classes=[cls])
    t2 = _open(client, tokens, a2)
    assert t1["engineer_id"] == e1 and t2["engineer_id"] == e2  # e1 has load 1, e2 none
    h1 = auth(engineer_token(e1))
    ids = {t["id"] for t in client.get("/tickets", headers=h1).json()}
    assert t1["id"] in ids and t2["id"] not in ids
    r = client.get(f"/tickets/{t2['id']}", headers=h1)
    assert r.status_code == 403 and "not assigned to you" in r.json()["detail"]
    r = client.post(f"/tickets/{t2['id']}/transitions", json={"to": "accepted"}, headers=h1)
    assert r.status_code == 403


def test_manual_assignment_overrides_routing_and_is_audited(
    client, tokens, make_asset, make_engineer
) -> None:
    cls = f"chiller_{uid()}"
    asset = make_asset(cls)
    routed = make_engineer("Router's pick", asset_classes=[cls])
    other = make_engineer("Dispatcher's pick", asset_classes=[])
    t = _open(client, tokens, asset)
    assert t["engineer_id"] == routed
    r = client.post(
        f"/tickets/{t['id']}/assign",
        json={"engineer_id": other, "reason": "knows the site"},
        headers=auth(tokens["dispatcher"]),
    )
    assert r.status_code == 200 and r.json()["engineer_id"] == other
    events = client.get(f"/tickets/{t['id']}/events", headers=auth(tokens["admin"])).json()
    last = events[-1]
    assert last["action"] == "reassigned" and last["actor"] == "test-dispatcher"
    assert last["role"] == "dispatcher"
    assert last["before"]["engineer_id"] == routed and last["after"]["engineer_id"] == other
    assert last["after"]["note"] == "knows the site"
    routing = client.get(f"/tickets/{t['id']}", headers=auth(tokens["admin"])).json()["routing"]
    assert routing[-1]["reason"] == "manual" and "overrides routing" in routing[-1]["explanation"]


def test_open_sql_is_is_open_and_the_partial_index_predicate(db) -> None:
    """``lifecycle.OPEN`` is the one SQL spelling of "open ticket" (intake's ON CONFLICT,
    SLA scans, listings, dashboards): it admits exactly the states ``is_open`` does, and
    names the same closed states as the partial index intake's ON CONFLICT relies on."""
    import re

    from ticketing import lifecycle

    got = db.execute(
        f"select state from unnest(%s::text[]) as s(state) where {lifecycle.OPEN}",
        (list(lifecycle.STATES),),
    ).fetchall()
    assert {r[0] for r in got} == {s for s in lifecycle.STATES if lifecycle.is_open(s)}
    assert {r[0] for r in got} < set(lifecycle.STATES)
    (pred,) = db.execute(
        "select pg_get_expr(indpred, indrelid) from pg_index"
        " where indexrelid = 'tickets_one_open_predictive'::regclass"
    ).fetchone()
    closed = re.search(r"state <> ALL \(ARRAY\[(.*?)\]\)", pred)
    assert closed is not None, pred
    assert set(re.findall(r"'(\w+)'::text", closed.group(1))) == lifecycle.CLOSED_STATES
    assert lifecycle.T_OPEN == "t." + lifecycle.OPEN
