"""Issue 14 item 8: API tokens with a site scope, enforced on every route and the console.

Attack tried: an integration (and a dispatcher) token scoped to site A opens a ticket for an
asset of site B, posts an anomaly naming site B, reads, comments on, moves, assigns and
patches site B's ticket (and its internal comments), lists tickets, KPIs and SLA policies,
manages webhooks and verifies the audit chain, over the API and the console. Another site's
tickets and assets answer 404 (as if absent); a request naming another site answers 403;
lists and KPIs are filtered. Unscoped tokens behave as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from security_helpers import uid

from forewarn import db as fdb
from ticketing.auth import create_token
from ticketing.errors import Invalid


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def two_sites(
    client: TestClient, dsn: str, sec_tokens: dict[str, str], make_asset: Callable[..., str]
) -> dict[str, Any]:
    site_a, site_b = f"scope-a-{uid()}", f"scope-b-{uid()}"
    asset_a, asset_b = make_asset(site=site_a), make_asset(site=site_b)
    with fdb.connect(dsn, autocommit=True) as conn:
        scoped = {
            role: create_token(conn, f"scoped-{role}-{uid()}", role, sites=[site_a])[1]
            for role in ("integration", "dispatcher", "admin")
        }
    admin = _auth(sec_tokens["admin"])
    r = client.post(
        "/tickets",
        json={"asset": asset_b, "title": f"B-secret-{uid()}", "priority": "P2"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    ticket_b = r.json()["ticket"]
    r = client.post(
        f"/tickets/{ticket_b['id']}/comments",
        json={"body": "internal note of site B", "internal": True},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return {
        "site_a": site_a,
        "site_b": site_b,
        "asset_a": asset_a,
        "asset_b": asset_b,
        "ticket_b": ticket_b,
        "scoped": scoped,
    }


def test_scoped_integration_token_cannot_open_or_read_other_site(
    client: TestClient, two_sites: dict[str, Any], sec_tokens: dict[str, str]
) -> None:
    s = two_sites
    h = _auth(s["scoped"]["integration"])
    tid = s["ticket_b"]["id"]
    # opening a ticket on site B: the asset does not exist for this token
    r = client.post(
        "/tickets", json={"asset": s["asset_b"], "title": "x", "priority": "P1"}, headers=h
    )
    assert r.status_code == 404, r.text
    assert s["asset_b"] in r.json()["detail"]
    # on its own site it works as before
    r = client.post(
        "/tickets", json={"asset": s["asset_a"], "title": "a", "priority": "P1"}, headers=h
    )
    assert r.status_code == 201, r.text
    own = r.json()["ticket"]["id"]
    # reading site B's ticket (and its internal comment) is refused; its own is readable
    r = client.get(f"/tickets/{tid}", headers=h)
    assert r.status_code == 404, r.text
    assert "internal note of site B" not in r.text
    assert client.get(f"/tickets/{own}", headers=h).status_code == 200
    # listing: only site A, even when asking for site B by filter
    listed = client.get("/tickets", headers=h).json()
    assert {t["site"] for t in listed} == {s["site_a"]}
    assert client.get("/tickets", params={"site": s["site_b"]}, headers=h).json() == []
    # an anomaly event naming site B: 403 naming the site
    event = {
        "event_id": f"ev-{uid()}",
        "site": s["site_b"],
        "asset": s["asset_b"],
        "ts": "2026-01-05T08:55:00Z",
        "detector": {"name": "hst", "version": "1", "config_hash": "abc"},
        "score": 0.9,
        "severity": "critical",
        "fault_mode": "bearing_wear",
    }
    r = client.post("/anomalies", json=event, headers=h)
    assert r.status_code == 403, r.text
    assert "site" in r.json()["detail"]
    # ... nor one that claims site A for site B's asset (tickets follow the asset's site)
    r = client.post("/anomalies", json={**event, "site": s["site_a"]}, headers=h)
    assert r.status_code == 404, r.text
    opened = client.get(
        "/tickets", params={"asset": s["asset_b"]}, headers=_auth(sec_tokens["admin"])
    ).json()
    assert [t["source"] for t in opened] == ["manual"]
    assert client.get("/me", headers=h).json()["sites"] == [s["site_a"]]

    # Control: the unscoped integration token still works on both sites, as before.
    u = _auth(sec_tokens["integration"])
    assert client.get(f"/tickets/{tid}", headers=u).status_code == 200
    r = client.post(
        "/tickets", json={"asset": s["asset_b"], "title": "u", "priority": "P2"}, headers=u
    )
    assert r.status_code == 201, r.text
    assert client.get("/me", headers=u).json()["sites"] is None


def test_scoped_staff_cannot_change_other_site_or_see_global_data(
    client: TestClient, two_sites: dict[str, Any]
) -> None:
    s = two_sites
    tid = s["ticket_b"]["id"]
    d = _auth(s["scoped"]["dispatcher"])
    for method, path, body in [
        ("post", f"/tickets/{tid}/comments", {"body": "hi", "internal": True}),
        ("post", f"/tickets/{tid}/transitions", {"to": "cancelled", "note": "x"}),
        ("post", f"/tickets/{tid}/assign", {"engineer_id": 1, "reason": "x"}),
        ("patch", f"/tickets/{tid}", {"title": "renamed"}),
        ("post", f"/tickets/{tid}/subtasks", {"title": "t"}),
        ("get", f"/tickets/{tid}/events", None),
    ]:
        r = client.request(method, path, json=body, headers=d)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert f"ticket {tid} not found" in r.json()["detail"]
    # KPIs by site count only site A (site B has a ticket but must not appear)
    groups = {row["group"] for row in client.get("/kpis?group_by=site", headers=d).json()["rows"]}
    assert s["site_b"] not in groups
    # SLA: another site's policy or the all-site default is refused; its own is allowed
    policy = {"response_minutes": 60, "resolution_minutes": 600, "warn_before_minutes": 10}
    assert (
        client.put(
            f"/sla/policies/P1?site={s['site_b']}", json=policy, headers=_auth(s["scoped"]["admin"])
        ).status_code
        == 403
    )
    assert (
        client.put("/sla/policies/P1", json=policy, headers=_auth(s["scoped"]["admin"])).status_code
        == 403
    )
    r = client.put(
        f"/sla/policies/P1?site={s['site_a']}", json=policy, headers=_auth(s["scoped"]["admin"])
    )
    assert r.status_code == 200, r.text
    # data spanning every site: refused to a scoped admin
    a = _auth(s["scoped"]["admin"])
    assert client.get("/webhooks", headers=a).status_code == 403
    assert client.get("/audit/verify", headers=a).status_code == 403
    # the ticket of site B is unchanged
    assert s["ticket_b"]["title"].startswith("B-secret-")


def test_scoped_token_in_the_console(client: TestClient, two_sites: dict[str, Any]) -> None:
    s = two_sites
    client.cookies.set("fw_console", s["scoped"]["dispatcher"])
    r = client.get(f"/console/tickets/{s['ticket_b']['id']}")
    assert r.status_code == 404
    assert "internal note of site B" not in r.text
    board = client.get("/console/board")
    assert board.status_code == 200
    assert s["ticket_b"]["title"] not in board.text
    fleet = client.get("/console/fleet")
    assert s["asset_b"] not in fleet.text
    assert s["asset_b"] not in client.get("/console/map").text


def test_scope_is_validated_on_creation(dsn: str) -> None:
    """Bad input: an empty scope or a site name with spaces is a one-line error."""
    with fdb.connect(dsn, autocommit=True) as conn:
        with pytest.raises(Invalid, match="sites"):
            create_token(conn, "bad", "integration", sites=[])
        with pytest.raises(Invalid, match="sites"):
            create_token(conn, "bad", "integration", sites=["a b"])
