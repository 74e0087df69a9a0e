"""Escalation that means something: the engineer who gets a breached ticket gets a deadline
of their own by policy (not "overdue" from the first minute), missing it escalates again to
somebody new, and the card and ticket page say the ticket was escalated."""

from __future__ import annotations

import re

from ticketing_helpers import auth, uid


def test_reassignment_on_breach_gets_its_own_deadline_and_escalates_again(
    app, client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    cls = f"boiler_{uid()}"
    first = make_engineer("first", asset_classes=[cls], home_lat=52.0, home_lon=4.0)
    second = make_engineer("second", asset_classes=[cls], home_lat=52.3, home_lon=4.0)
    third = make_engineer("third", asset_classes=[cls], home_lat=52.6, home_lon=4.0)
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls), "title": "flame failure", "priority": "P1"},
    ).json()["ticket"]
    assert t["engineer_id"] == first
    clock.advance(minutes=125)  # 11:05, P1 response (120 min) missed
    app.state.sla.scan()
    row = client.get(f"/tickets/{t['id']}", headers=auth(tokens["admin"])).json()
    assert row["engineer_id"] == second and row["priority"] == "P0"
    db_row = app.state.store.read(
        lambda tx: tx.one("select * from tickets where id = %s", (t["id"],))
    )
    # P0 gives 30 minutes to respond, counted from the reassignment at 11:05.
    assert db_row["escalation_due"].isoformat().startswith("2026-01-05T11:35")
    assert db_row["escalated_at"].isoformat().startswith("2026-01-05T11:05")

    # The board shows the escalated card with the new engineer's deadline, not "overdue".
    cookie = {"cookie": f"fw_console={tokens['dispatcher']}"}
    board = client.get("/console/board", headers=cookie).text
    card = board[board.index(f'data-ticket="{t["id"]}"') :][:1200]
    assert "escalated ×1" in card and "escalation in 30m" in card
    assert re.search(r">[^<]*overdue", card) is None  # not shown as overdue
    page = client.get(f"/console/tickets/{t['id']}", headers=cookie).text
    assert 'id="ticket-escalated"' in page and "accept by 2026-01-05 11:35" in page

    clock.advance(minutes=20)  # 11:25: still within the new deadline
    assert [a for a in app.state.sla.scan() if a.ticket_id == t["id"]] == []
    clock.advance(minutes=15)  # 11:40: second did not accept either
    assert [a.kind for a in app.state.sla.scan() if a.ticket_id == t["id"]] == ["escalation_breach"]
    row = client.get(f"/tickets/{t['id']}", headers=auth(tokens["admin"])).json()
    assert row["engineer_id"] == third and row["escalations"] == 2  # not back to first

    # The third accepts in time: no further escalation however long it takes.
    r = client.post(
        f"/tickets/{t['id']}/transitions",
        json={"to": "accepted"},
        headers=auth(engineer_token(third)),
    )
    assert r.status_code == 200, r.text
    clock.advance(minutes=60)
    assert [a.kind for a in app.state.sla.scan() if a.ticket_id == t["id"]] == []
