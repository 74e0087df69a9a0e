"""SLA timers with a manual clock: warnings before, escalation at a breach, and a breach
that happened while the service was down handled on start."""

from __future__ import annotations

from fastapi.testclient import TestClient
from ticketing_helpers import auth, uid

from ticketing.app import create_app


def _actions(client, tokens, tid: int) -> list[str]:
    return [
        e["action"]
        for e in client.get(f"/tickets/{tid}/events", headers=auth(tokens["admin"])).json()
    ]


def test_warning_then_breach_escalates_raises_priority_and_reassigns(
    app, client, tokens, make_asset, make_engineer, clock
) -> None:
    cls = f"pump_{uid()}"
    first = make_engineer("first", asset_classes=[cls], home_lat=52.0, home_lon=4.0)
    second = make_engineer("second", asset_classes=[cls], home_lat=52.5, home_lon=4.0)
    r = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls), "title": "leak", "priority": "P1"},
    )
    t = r.json()["ticket"]
    assert t["engineer_id"] == first
    assert t["response_due"].startswith("2026-01-05T11:00")  # P1: 120 min to respond
    tid = t["id"]

    clock.advance(minutes=80)  # 10:20, before the warning window (30 min ahead)
    assert [a for a in app.state.sla.scan() if a.ticket_id == tid] == []
    clock.advance(minutes=15)  # 10:35: warn
    assert [a.kind for a in app.state.sla.scan() if a.ticket_id == tid] == ["response_warning"]
    assert [a for a in app.state.sla.scan() if a.ticket_id == tid] == []  # warned once only
    clock.advance(minutes=30)  # 11:05: breached
    assert [a.kind for a in app.state.sla.scan() if a.ticket_id == tid] == ["response_breach"]
    after = client.get(f"/tickets/{tid}", headers=auth(tokens["admin"])).json()
    assert after["priority"] == "P0" and after["escalations"] == 1
    assert after["engineer_id"] == second and after["response_breached_at"] is not None
    assert after["routing"][-1]["reason"] == "escalation"
    assert "first (already had it (escalation))" in after["routing"][-1]["explanation"]
    acts = _actions(client, tokens, tid)
    assert acts[-4:] == ["sla_warning", "sla_breach", "reassigned", "escalation_deadline"]
    assert [a for a in app.state.sla.scan() if a.ticket_id == tid and "response" in a.kind] == []


def test_acknowledged_ticket_does_not_breach_response(
    app, client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    cls = f"fan_{uid()}"
    eng = make_engineer("quick", asset_classes=[cls])
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls), "title": "x", "priority": "P0"},
    ).json()["ticket"]
    client.post(
        f"/tickets/{t['id']}/transitions",
        json={"to": "accepted"},
        headers=auth(engineer_token(eng)),
    )
    clock.advance(minutes=45)  # P0 response was 30 min
    assert [a for a in app.state.sla.scan() if a.ticket_id == t["id"]] == []


def test_breach_with_nobody_else_goes_to_a_supervisor(
    app, client, tokens, make_asset, make_engineer, clock
) -> None:
    cls = f"valve_{uid()}"
    only = make_engineer("only", asset_classes=[cls])
    make_engineer("elsewhere", asset_classes=[], supervisor=True, zones=["north"])
    # A site of its own, so supervisors that other tests of this session made rank lower.
    site = f"site-{uid()}"
    boss = make_engineer("boss", asset_classes=[], supervisor=True, max_load=100, zones=[site])
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls, site=site), "title": "x", "priority": "P2"},
    ).json()["ticket"]
    assert t["engineer_id"] == only
    clock.advance(hours=9)  # P2 response: 8 h
    app.state.sla.scan()
    after = client.get(f"/tickets/{t['id']}", headers=auth(tokens["admin"])).json()
    assert after["engineer_id"] == boss and after["priority"] == "P1"
    assert "Escalated to supervisor boss" in after["routing"][-1]["explanation"]


def test_restart_mid_sla_still_escalates_on_start(
    settings, tokens, make_asset, make_engineer, clock, client
) -> None:
    cls = f"chiller_{uid()}"
    make_engineer("a", asset_classes=[cls])
    make_engineer("b", asset_classes=[cls])
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls), "title": "x", "priority": "P0"},
    ).json()["ticket"]
    client.__exit__(None, None, None)  # the service stops mid-SLA (lifespan shutdown)

    clock.advance(minutes=90)  # deadlines pass while nothing runs
    app2 = create_app(settings, clock=clock, background=False, mqtt=False)
    with TestClient(app2) as c2:  # start-up alone must handle it: no scan called here
        after = c2.get(f"/tickets/{t['id']}", headers=auth(tokens["admin"])).json()
        acts = _actions(c2, tokens, t["id"])
    assert after["response_breached_at"] is not None and after["escalations"] == 1
    assert after["engineer_id"] != t["engineer_id"]
    assert "sla_breach" in acts and "sla_warning" not in acts  # too late to warn


def test_resolution_breach_on_site_raises_priority_without_reassigning(
    app, client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    cls = f"motor_{uid()}"
    eng = make_engineer("busy", asset_classes=[cls])
    make_engineer("spare", asset_classes=[cls])
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls), "title": "x", "priority": "P1"},
    ).json()["ticket"]
    h = auth(engineer_token(eng))
    for to in ("accepted", "en_route", "on_site"):
        client.post(f"/tickets/{t['id']}/transitions", json={"to": to}, headers=h)
    clock.advance(hours=25)  # P1 resolution: 24 h
    kinds = [a.kind for a in app.state.sla.scan() if a.ticket_id == t["id"]]
    assert kinds == ["resolution_breach"]
    after = client.get(f"/tickets/{t['id']}", headers=auth(tokens["admin"])).json()
    assert after["engineer_id"] == eng and after["priority"] == "P0"
    assert after["state"] == "on_site"


def test_policies_are_editable_by_admin_only(client, tokens) -> None:
    body = {"response_minutes": 60, "resolution_minutes": 600, "warn_before_minutes": 15}
    assert (
        client.put("/sla/policies/P2", json=body, headers=auth(tokens["dispatcher"])).status_code
        == 403
    )
    r = client.put("/sla/policies/P2", json=body, headers=auth(tokens["admin"]))
    assert r.status_code == 200 and r.json()["response_minutes"] == 60
    restore = {"response_minutes": 480, "resolution_minutes": 4320, "warn_before_minutes": 60}
    assert (
        client.put("/sla/policies/P2", json=restore, headers=auth(tokens["admin"])).status_code
        == 200
    )
    bad = client.put(
        "/sla/policies/P2", json={**body, "response_minutes": 0}, headers=auth(tokens["admin"])
    )
    assert bad.status_code == 422


def test_a_site_policy_overrides_the_default(
    app, client, tokens, make_asset, make_engineer, clock
) -> None:
    site = f"site-{uid()}"
    admin = auth(tokens["admin"])
    body = {"response_minutes": 10, "resolution_minutes": 60, "warn_before_minutes": 2}
    r = client.put(f"/sla/policies/P2?site={site}", json=body, headers=admin)
    assert r.status_code == 200 and r.json()["site"] == site
    listed = client.get("/sla/policies", headers=admin).json()
    assert {(p["priority"], p["site"]) for p in listed} >= {("P2", "*"), ("P2", site)}
    cls = f"fan_{uid()}"
    make_engineer("site-a-eng", asset_classes=[cls])
    make_engineer("site-b-eng", asset_classes=[cls])
    here = client.post(
        "/tickets", headers=admin, json={"asset": make_asset(cls, site=site), "title": "x"}
    ).json()["ticket"]
    there = client.post(
        "/tickets", headers=admin, json={"asset": make_asset(cls), "title": "x"}
    ).json()["ticket"]
    assert here["response_due"].startswith("2026-01-05T09:10")
    assert there["response_due"].startswith("2026-01-05T17:00")  # default P2: 8 h
    clock.advance(minutes=11)
    done = {(a.ticket_id, a.kind) for a in app.state.sla.scan()}
    assert (here["id"], "response_breach") in done
    assert not any(t == there["id"] for t, _ in done)
    bad = client.put("/sla/policies/P2?site=a/b", json=body, headers=admin)
    assert bad.status_code == 422


def test_the_scheduler_drives_the_scan_in_a_running_service(
    settings, tokens, make_asset, make_engineer, clock
) -> None:
    import time

    from ticketing.config import TicketingSettings

    cls = f"pump_{uid()}"
    make_engineer("sched-a", asset_classes=[cls])
    make_engineer("sched-b", asset_classes=[cls])
    cfg = TicketingSettings(sla_scan_interval_s=0.2, webhook_interval_s=0.2, mqtt_enabled=False)
    app2 = create_app(settings, clock=clock, config=cfg)  # background=True: APScheduler runs
    with TestClient(app2) as c:
        t = c.post(
            "/tickets",
            headers=auth(tokens["dispatcher"]),
            json={"asset": make_asset(cls), "title": "x", "priority": "P0"},
        ).json()
        clock.advance(minutes=31)  # no scan called here: only the scheduler's job
        deadline = time.monotonic() + 15
        after: dict = {}
        while time.monotonic() < deadline:
            after = c.get(f"/tickets/{t['ticket']['id']}", headers=auth(tokens["admin"])).json()
            if after["escalations"]:
                break
            time.sleep(0.1)
    assert after["escalations"] == 1 and after["response_breached_at"] is not None
