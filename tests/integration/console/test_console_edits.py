"""Priority and sub-tasks edited from the console ticket page, through the API's models and
operations. Tried: a priority that does not exist, a form without or with a wrong CSRF
token, an engineer changing the priority, an empty or oversized sub-task title, a non-boolean
"done", a sub-task id that is not a number or belongs to another ticket, an engineer who does
not have the ticket; none of them changes anything."""

from __future__ import annotations

from typing import Any

from console_helpers import anomaly_event, auth, csrf_of, login, seed_asset, uid
from fastapi.testclient import TestClient


def _ticket(client: TestClient, tokens: dict[str, str], db: Any, cls: str) -> dict[str, Any]:
    asset, at = seed_asset(db, asset_class=cls)
    r = client.post(
        "/anomalies", json=anomaly_event(asset, at), headers=auth(tokens["integration"])
    )
    assert r.status_code == 201, r.text
    got = client.get(f"/tickets/{r.json()['ticket_id']}", headers=auth(tokens["admin"]))
    return dict(got.json())


def test_priority_and_subtasks_from_the_ticket_page(
    client: TestClient, browser_client: Any, console_tokens: dict[str, str], db: Any, engineer: Any
) -> None:
    cls = f"blower_{uid()}"
    eid, etok = engineer(asset_classes=[cls])
    t = _ticket(client, console_tokens, db, cls)
    assert t["engineer_id"] == eid
    admin = auth(console_tokens["admin"])
    staff = browser_client()
    login(staff, console_tokens["dispatcher"])
    page = staff.get(f"/console/tickets/{t['id']}").text
    assert 'id="priority-form"' in page and 'id="subtask-form"' in page
    csrf = csrf_of(page)
    base = f"/console/tickets/{t['id']}"

    target = "P0" if t["priority"] != "P0" else "P1"
    assert staff.post(f"{base}/priority", data={"priority": target}).status_code == 403
    wrong = staff.post(f"{base}/priority", data={"priority": target, "csrf": "x" + csrf})
    assert wrong.status_code == 403
    bad = staff.post(f"{base}/priority", data={"priority": "P9", "csrf": csrf})
    assert bad.status_code == 422 and "priority" in bad.text
    assert client.get(f"/tickets/{t['id']}", headers=admin).json()["priority"] == t["priority"]
    r = staff.post(f"{base}/priority", data={"priority": target, "csrf": csrf})
    assert r.status_code == 200 and f"priority {target}" in r.text  # redirected to the page
    assert client.get(f"/tickets/{t['id']}", headers=admin).json()["priority"] == target

    for title in ("", "   ", "x" * 201):
        r = staff.post(f"{base}/subtasks", data={"title": title, "csrf": csrf})
        assert r.status_code == 422 and "title" in r.text, title
    r = staff.post(f"{base}/subtasks", data={"title": "Replace the seal kit", "csrf": csrf})
    assert r.status_code == 200 and "Replace the seal kit" in r.text
    subs = client.get(f"/tickets/{t['id']}", headers=admin).json()["subtasks"]
    assert [s["title"] for s in subs] == ["Replace the seal kit"] and not subs[0]["done"]
    sid = subs[0]["id"]

    r = staff.post(f"{base}/subtasks/{sid}", data={"done": "maybe", "csrf": csrf})
    assert r.status_code == 422 and "done" in r.text
    assert staff.post(f"{base}/subtasks/abc", data={"done": "true", "csrf": csrf}).status_code == (
        404
    )
    other = _ticket(client, console_tokens, db, cls)
    r = staff.post(
        f"/console/tickets/{other['id']}/subtasks/{sid}", data={"done": "true", "csrf": csrf}
    )
    assert r.status_code == 404  # the sub-task belongs to another ticket

    eng = browser_client()
    login(eng, etok)
    epage = eng.get(f"{base}").text
    assert 'id="priority-form"' not in epage and f'data-subtask="{sid}"' in epage
    ecsrf = csrf_of(epage)
    r = eng.post(f"{base}/priority", data={"priority": "P2", "csrf": ecsrf})
    assert r.status_code == 403  # priority is for staff, as in the API
    r = eng.post(f"{base}/subtasks/{sid}", data={"done": "true", "csrf": ecsrf})
    assert r.status_code == 200
    subs = client.get(f"/tickets/{t['id']}", headers=admin).json()["subtasks"]
    assert subs[0]["done"] is True
    events = client.get(f"/tickets/{t['id']}/events", headers=admin).json()
    actions = [e["action"] for e in events]
    assert "updated" in actions and "subtask_added" in actions and "subtask_done" in actions

    _, stok = engineer(asset_classes=[f"none_{uid()}"])
    s = browser_client()
    login(s, stok)
    scsrf = csrf_of(s.get("/console/board").text)
    r = s.post(f"{base}/subtasks", data={"title": "sneaky", "csrf": scsrf})
    assert r.status_code == 403
    subs = client.get(f"/tickets/{t['id']}", headers=admin).json()["subtasks"]
    assert [x["title"] for x in subs] == ["Replace the seal kit"]
