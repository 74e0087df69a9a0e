"""The console over the real app and database: sessions, roles, CSRF, bad input, pages.

Bad input tried: no session, unknown/revoked token, wrong name, missing/forged CSRF, non-numeric
and out-of-range ticket ids, an unknown state, resolving without a code, an illegal move,
another engineer's ticket, malformed and unknown tracking codes, an open redirect in ``next``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from console_helpers import anomaly_event, auth, csrf_of, login, seed_asset, uid
from fastapi.testclient import TestClient

from forewarn import db as fdb
from ticketing.auth import create_token, revoke_token

pytestmark = pytest.mark.integration


def open_ticket(
    client: TestClient, tokens: dict[str, str], db: Any, engineer_id: int | None = None
) -> dict[str, Any]:
    asset, at = seed_asset(db)
    r = client.post(
        "/anomalies", json=anomaly_event(asset, at), headers=auth(tokens["integration"])
    )
    assert r.status_code == 201, r.text
    tid = r.json()["ticket_id"]
    if engineer_id is not None:
        r = client.post(
            f"/tickets/{tid}/assign",
            json={"engineer_id": engineer_id, "reason": "test"},
            headers=auth(tokens["dispatcher"]),
        )
        assert r.status_code == 200, r.text
    return client.get(f"/tickets/{tid}", headers=auth(tokens["admin"])).json()


def test_pages_need_a_session(client: TestClient) -> None:
    for path in (
        "/console/board",
        "/console/fleet",
        "/console/map",
        "/console/kpis",
        "/console/tickets/1",
    ):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")
    r = client.get("/console/board/fragment", headers={"X-Console-Fragment": "1"})
    assert r.status_code == 401 and "log in" in r.text
    r = client.post(
        "/console/tickets/1/transition", data={"to": "accepted"}, follow_redirects=False
    )
    assert r.status_code == 303


def test_login_sets_an_httponly_strict_cookie_and_refuses_bad_tokens(
    client: TestClient, console_tokens: dict[str, str], dsn: str
) -> None:
    page = client.get("/console/login")
    r = client.post(
        "/console/login", data={"token": console_tokens["dispatcher"]}, follow_redirects=False
    )
    assert r.status_code == 403 and "form expired" in r.text  # no CSRF value
    r = client.post(
        "/console/login",
        data={"token": console_tokens["dispatcher"], "csrf": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    r = client.post("/console/login", data={"token": "fwt_nope", "csrf": csrf_of(page.text)})
    assert r.status_code == 401 and "unknown or revoked token" in r.text
    r = client.post("/console/login", data={"token": "", "csrf": csrf_of(page.text)})
    assert r.status_code == 422
    r = login(client, console_tokens["dispatcher"], name="somebody-else")
    assert r.status_code == 401 and "does not go with this token" in r.text

    with fdb.connect(dsn, autocommit=True) as conn:
        name = f"console-revoked-{uid()}"
        token = create_token(conn, name, "dispatcher")[1]
    r = login(client, token, name=name)
    assert r.status_code == 303 and r.headers["location"] == "/console/board"
    cookie = r.headers["set-cookie"].lower()
    assert "fw_console=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/console/board").status_code == 200
    with fdb.connect(dsn, autocommit=True) as conn:
        revoke_token(conn, name)
    r = client.get("/console/board", follow_redirects=False)
    assert r.status_code == 303  # a revoked token ends the session at once


def test_next_never_leaves_the_console(client: TestClient, console_tokens: dict[str, str]) -> None:
    for evil in ("https://evil.example/", "//evil.example", "/console/\\evil"):
        page = client.get("/console/login")  # each login spends its form token
        r = client.post(
            "/console/login",
            data={"token": console_tokens["admin"], "csrf": csrf_of(page.text), "next": evil},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/console/board"


def test_engineer_sees_only_own_tickets_and_staff_pages_are_refused(
    client: TestClient, browser_client: Any, console_tokens: dict[str, str], db: Any, engineer: Any
) -> None:
    e1, tok1 = engineer()
    e2, _ = engineer()
    mine = open_ticket(client, console_tokens, db, e1)
    theirs = open_ticket(client, console_tokens, db, e2)
    eng = browser_client()
    assert login(eng, tok1).status_code == 303
    board = eng.get("/console/board").text
    assert f'data-ticket="{mine["id"]}"' in board and f'data-ticket="{theirs["id"]}"' not in board
    r = eng.get(f"/console/tickets/{theirs['id']}")
    assert r.status_code == 403 and "not assigned to you" in r.text
    r = eng.post(
        f"/console/tickets/{theirs['id']}/transition",
        data={"to": "accepted", "csrf": csrf_of(board)},
    )
    assert r.status_code == 403
    assert (
        client.get(f"/tickets/{theirs['id']}", headers=auth(console_tokens["admin"])).json()[
            "state"
        ]
        == "assigned"
    )
    r = eng.get("/console/kpis")
    assert r.status_code == 403 and "may not see this" in r.text
    m = eng.get("/console/map").text
    assert f'data-engineer="{e1}"' in m and f'data-engineer="{e2}"' not in m

    staff = browser_client()
    login(staff, console_tokens["dispatcher"])
    board = staff.get("/console/board").text
    assert f'data-ticket="{mine["id"]}"' in board and f'data-ticket="{theirs["id"]}"' in board
    m = staff.get("/console/map").text
    assert f'data-engineer="{e1}"' in m and f'data-engineer="{e2}"' in m
    assert f'data-asset="{mine["asset"]}"' in m
    assert staff.get("/console/kpis").status_code == 200


def test_bad_ids_and_sites_get_a_page_not_a_500(
    client: TestClient, console_tokens: dict[str, str]
) -> None:
    login(client, console_tokens["admin"])
    for raw, status in (
        ("abc", 404),
        ("-1", 404),
        ("0", 404),
        (str(2**63), 404),
        ("999999999", 404),
    ):
        r = client.get(f"/console/tickets/{raw}")
        assert r.status_code == status, raw
        assert 'id="error-message"' in r.text and r.headers["content-type"].startswith("text/html")
    for path in (
        "/console/fleet?site=%00",
        "/console/fleet/fragment?site=a%20b",
        "/console/fleet?site=" + "x" * 500,
    ):
        r = client.get(path)
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), path


def test_engineer_works_a_ticket_through_the_state_machine(
    client: TestClient, browser_client: Any, console_tokens: dict[str, str], db: Any, engineer: Any
) -> None:
    eid, tok = engineer()
    t = open_ticket(client, console_tokens, db, eid)
    eng = browser_client()
    login(eng, tok)
    page = eng.get(f"/console/tickets/{t['id']}")
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    url = f"/console/tickets/{t['id']}/transition"

    r = eng.post(url, data={"to": "accepted"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = eng.post(url, data={"to": "accepted", "csrf": "0" * 64})
    assert r.status_code == 403
    r = eng.post(url, data={"to": "flying", "csrf": csrf})
    assert r.status_code == 422 and "to:" in r.text
    r = eng.post(url, data={"to": "on_site", "csrf": csrf})
    assert (
        r.status_code == 409 and "cannot go from &#39;assigned&#39; to &#39;on_site&#39;" in r.text
    )
    for to in ("accepted", "en_route", "on_site"):
        r = eng.post(url, data={"to": to, "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303, r.text
    r = eng.post(url, data={"to": "resolved", "csrf": csrf})
    assert r.status_code == 422 and "resolution_code" in r.text
    r = eng.post(url, data={"to": "resolved", "resolution_code": "bogus", "csrf": csrf})
    assert r.status_code == 422
    r = eng.post(
        url,
        data={
            "to": "resolved",
            "resolution_code": "confirmed",
            "note": "bearing replaced",
            "csrf": csrf,
        },
    )
    assert r.status_code == 200 and 'data-state="resolved"' in r.text  # followed the redirect
    api = client.get(f"/tickets/{t['id']}/events", headers=auth(console_tokens["admin"])).json()
    actions = [e["action"] for e in api]
    assert actions[-4:] == ["state_accepted", "state_en_route", "state_on_site", "state_resolved"]
    assert api[-1]["actor"].startswith("console-eng-")
    fb = db.execute(
        "select resolution_code from detector_feedback where ticket_id = %s", (t["id"],)
    ).fetchone()
    assert fb == ("confirmed",)  # the same side effects as the API's resolve


def test_ticket_page_draws_the_evidence_window_with_contributors_highlighted(
    client: TestClient, console_tokens: dict[str, str], db: Any
) -> None:
    t = open_ticket(client, console_tokens, db)
    login(client, console_tokens["dispatcher"])
    html = client.get(f"/console/tickets/{t['id']}").text
    chart = re.search(r'<svg id="evidence-chart".*?</svg>', html, re.S)
    assert chart, "no evidence chart"
    groups = re.findall(
        r'<g class="series (\w+)" data-metric="([\w.]+)">.*?data-points="(\d+)"',
        chart.group(0),
        re.S,
    )
    by_metric = {m: (cls, int(n)) for cls, m, n in groups}
    assert (
        by_metric["vibration_rms"][0] == "contrib" and by_metric["bearing_temp_c"][0] == "contrib"
    )
    assert by_metric["flow_m3h"][0] == "other"
    assert all(n > 100 for _, n in by_metric.values())  # 2.5 h at 30 s, bucketed to ~240
    assert '<line class="mark"' in chart.group(0)
    assert "routing" in html.lower() and 'id="timeline"' in html


def test_fleet_shows_health_last_anomaly_and_a_sparkline(
    client: TestClient, console_tokens: dict[str, str], db: Any
) -> None:
    t = open_ticket(client, console_tokens, db)
    quiet, _ = seed_asset(db, site="site-q")
    login(client, console_tokens["dispatcher"])
    html = client.get("/console/fleet?site=site-a").text
    row = re.search(rf'<tr data-asset="{t["asset"]}" class="health-(\w+)">(.*?)</tr>', html, re.S)
    assert row and row.group(1) == "critical"  # critical finding and an open P1 ticket
    assert "bearing_wear" in row.group(2)
    n = re.search(r'data-points="(\d+)"', row.group(2))
    assert n and int(n.group(1)) >= 5
    html = client.get("/console/fleet/fragment?site=site-q").text
    assert re.search(rf'<tr data-asset="{quiet}" class="health-ok">', html)
    assert t["asset"] not in html


def test_customer_tracking_shows_progress_and_nothing_internal(
    client: TestClient, console_tokens: dict[str, str], db: Any, engineer: Any
) -> None:
    name = f"Secret Name {uid()}"
    eid, _ = engineer(name=name)
    t = open_ticket(client, console_tokens, db, eid)
    fresh = TestClient(client.app)  # no cookies: a customer
    r = fresh.get(f"/console/track?code={t['tracking_code'].lower()}", follow_redirects=True)
    assert r.status_code == 200
    assert 'id="track-status">scheduled<' in r.text
    for secret in (name, t["asset"], "bearing", "hst", "routing"):
        assert secret not in r.text
    assert "Log out" not in r.text
    assert fresh.get("/console/track/ABC").status_code == 422
    assert fresh.get("/console/track?code=%3Cscript%3E").status_code == 422
    r = fresh.get("/console/track/ZZZZZZZZZZ")
    assert r.status_code == 404 and "no job with this tracking code" in r.text


def test_logout_needs_csrf_and_ends_the_session(
    client: TestClient, console_tokens: dict[str, str]
) -> None:
    login(client, console_tokens["admin"])
    page = client.get("/console/board")
    assert client.post("/console/logout", data={}).status_code == 403
    r = client.post("/console/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/console/board", follow_redirects=False).status_code == 303


def test_static_assets_are_served_locally(client: TestClient) -> None:
    for path in ("/console/static/console.css", "/console/static/console.js"):
        assert client.get(path).status_code == 200
    html = client.get("/console/login").text
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


def test_staff_assign_and_comments_go_through_the_api_operations(
    client: TestClient, browser_client: Any, console_tokens: dict[str, str], db: Any, engineer: Any
) -> None:
    eid, tok = engineer(asset_classes=["centrifugal_pump"])  # qualified: in the assign list
    t = open_ticket(client, console_tokens, db)
    staff = browser_client()
    login(staff, console_tokens["dispatcher"])
    page = staff.get(f"/console/tickets/{t['id']}")
    assert 'id="assign-form"' in page.text
    csrf = csrf_of(page.text)
    url = f"/console/tickets/{t['id']}/assign"
    r = staff.post(url, data={"engineer_id": "abc", "csrf": csrf})
    assert r.status_code == 422 and "engineer_id" in r.text
    r = staff.post(url, data={"engineer_id": "999999999", "csrf": csrf})
    assert r.status_code == 404 and "engineer 999999999 not found" in r.text
    r = staff.post(url, data={"engineer_id": str(eid), "reason": "closest", "csrf": csrf})
    assert r.status_code == 200 and "assigned" in r.text
    got = client.get(f"/tickets/{t['id']}", headers=auth(console_tokens["admin"])).json()
    assert got["engineer_id"] == eid and got["routing"][-1]["reason"] == "manual"

    eng = browser_client()
    login(eng, tok)
    page = eng.get(f"/console/tickets/{t['id']}")
    assert 'id="assign-form"' not in page.text
    r = eng.post(url, data={"engineer_id": str(eid), "csrf": csrf_of(page.text)})
    assert r.status_code == 403  # assignment is for staff, as in the API
    comment = f"/console/tickets/{t['id']}/comment"
    r = eng.post(comment, data={"body": "", "csrf": csrf_of(page.text)})
    assert r.status_code == 422 and "body" in r.text
    eng.post(comment, data={"body": "needs a new seal kit", "csrf": csrf_of(page.text)})
    eng.post(
        comment,
        data={"body": "We will visit on Monday", "public": "1", "csrf": csrf_of(page.text)},
    )
    track = TestClient(client.app).get(f"/console/track/{t['tracking_code']}").text
    assert "We will visit on Monday" in track and "seal kit" not in track


def test_ticket_status_fragment_follows_changes_and_respects_roles(
    client: TestClient, browser_client: Any, console_tokens: dict[str, str], db: Any, engineer: Any
) -> None:
    _, tok1 = engineer()
    e2, _ = engineer()
    t = open_ticket(client, console_tokens, db, e2)
    staff = browser_client()
    login(staff, console_tokens["dispatcher"])
    url = f"/console/tickets/{t['id']}/status"
    assert 'data-state="assigned"' in staff.get(url).text
    client.post(
        f"/tickets/{t['id']}/transitions",
        json={"to": "accepted"},
        headers=auth(console_tokens["dispatcher"]),
    )
    assert 'data-state="accepted"' in staff.get(url).text
    eng = browser_client()
    login(eng, tok1)
    assert eng.get(url).status_code == 403
    assert eng.get("/console/tickets/x/status").status_code == 404
