"""Console pages of the asset register: list, create, the asset page, edit; roles, CSRF
and bad input come back as pages with the message, nothing written."""

from __future__ import annotations

import re
from typing import Any

from ticketing_helpers import uid

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _login(client: Any, token: str) -> None:
    page = client.get("/console/login")
    csrf = CSRF.search(page.text)
    assert csrf
    r = client.post(
        "/console/login",
        data={"csrf": csrf.group(1), "token": token, "next": "/console/assets"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def _csrf(client: Any, url: str) -> str:
    m = CSRF.search(client.get(url).text)
    assert m
    return m.group(1)


def test_register_pages_create_edit_and_refuse(
    client, tokens, db, make_engineer, engineer_token
) -> None:
    _login(client, tokens["dispatcher"])
    name = f"con-{uid()}"
    form = {
        "csrf": _csrf(client, "/console/assets"),
        "asset": name,
        "site": "site-a",
        "level": "machine",
        "criticality": "A",
        "lat": "53.5",
        "lon": "10.01",
        "status": "active",
        "documents": "manual | https://example.com/m.pdf",
    }
    r = client.post("/console/assets", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(f"/console/assets/{name}")
    assert page.status_code == 200 and "https://example.com/m.pdf" in page.text
    assert 'id="asset-health">unknown<' in page.text  # never reported yet
    assert name in client.get("/console/assets").text
    # Bad latitude: the page again with the field named, nothing changed.
    bad = {**form, "csrf": _csrf(client, f"/console/assets/{name}"), "lat": "123"}
    del bad["asset"]
    r = client.post(f"/console/assets/{name}", data=bad)
    assert r.status_code == 422 and "lat" in r.text
    assert db.execute("select lat from assets where asset = %s", (name,)).fetchone()[0] == 53.5
    # A good edit; then a missing CSRF token is refused.
    good = {**bad, "lat": "53.6"}
    r = client.post(f"/console/assets/{name}", data=good, follow_redirects=False)
    assert r.status_code == 303
    assert db.execute("select lat from assets where asset = %s", (name,)).fetchone()[0] == 53.6
    r = client.post(f"/console/assets/{name}", data={**good, "csrf": "forged", "lat": "1"})
    assert r.status_code == 403
    kpi = client.get("/console/maintenance/kpis")
    assert kpi.status_code == 200 and 'id="kpi-class"' in kpi.text
    assert client.get("/console/maintenance/forecast").status_code == 200
    # An engineer reads the page but may not edit.
    client.cookies.clear()
    _login(client, engineer_token(make_engineer("console-eng")))
    assert client.get(f"/console/assets/{name}").status_code == 200
    r = client.post(
        f"/console/assets/{name}", data={**good, "csrf": _csrf(client, f"/console/assets/{name}")}
    )
    assert r.status_code == 403
    assert client.get("/console/assets/no-such-asset").status_code == 404
    assert client.get("/console/maintenance/kpis").status_code == 403  # staff only, like the API


def test_work_page_records_steps(client, tokens, make_asset) -> None:
    d = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    r = client.post("/parts", json={"sku": f"c-{uid()}", "name": "seal"}, headers=d)
    part = r.json()["id"]
    client.put(f"/parts/{part}/stock/main", json={"on_hand": 4}, headers=d)
    plan = client.post(
        "/job-plans",
        json={
            "name": "seal swap",
            "est_minutes": 30,
            "steps": [{"text": "drain"}, {"text": "pressure (bar)", "kind": "reading"}],
            "parts": [{"part_id": part, "qty": 1}],
        },
        headers=d,
    ).json()["id"]
    tid = client.post("/tickets", json={"asset": make_asset("pump"), "title": "seal"}, headers=d)
    tid = tid.json()["ticket"]["id"]
    assert (
        client.post(f"/tickets/{tid}/job-plan", json={"job_plan_id": plan}, headers=d).status_code
        == 200
    )
    _login(client, tokens["dispatcher"])
    page = client.get(f"/console/tickets/{tid}/work")
    assert page.status_code == 200 and "seal swap" in page.text and 'data-on-hand="4"' in page.text
    csrf = CSRF.search(page.text).group(1)
    # A reading step without its reading: the page again with the field named.
    r = client.post(f"/console/tickets/{tid}/steps/2", data={"csrf": csrf, "result": "pass"})
    assert r.status_code == 422 and "reading" in r.text
    r = client.post(
        f"/console/tickets/{tid}/steps/2",
        data={"csrf": csrf, "result": "pass", "reading": "2.5"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "<strong>pass</strong> (2.5)" in client.get(f"/console/tickets/{tid}/work").text
    assert client.get("/console/tickets/abc/work").status_code == 404
