"""The dispatcher's console: names on cards, search and filters, a new-ticket form, KPIs
over a date range in minutes, CSV exports; the engineer's Decline; and a dispatcher's
Accept no longer meets the response SLA for the engineer. Bad input: bad dates, unknown
assets, forged CSRF, a formula in a title, declining an accepted job, the wrong role."""

from __future__ import annotations

import csv
import io
import re

from ticketing_helpers import auth, uid

ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]


def _cookie(token: str) -> dict[str, str]:
    return {"cookie": f"fw_console={token}"}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


def test_board_names_filters_new_ticket_form_kpis_and_csv(
    app, client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    cls = f"saw_{uid()}"
    eng = make_engineer(f"Gao {uid()}", asset_classes=[cls], shifts=ALL_DAY)
    name = client.get(f"/engineers/{eng}", headers=auth(tokens["admin"])).json()["name"]
    asset = make_asset(cls)
    d = _cookie(tokens["dispatcher"])
    form = client.get("/console/new-ticket", headers=d)
    assert form.status_code == 200 and f'<option value="{asset}">' in form.text
    r = client.post(
        "/console/new-ticket",
        headers=d,
        data={"asset": asset, "title": "=HYPERLINK(1)", "priority": "P1", "csrf": _csrf(form.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    tid = int(re.search(r"/console/tickets/(\d+)", r.headers["location"]).group(1))
    bad = client.post(
        "/console/new-ticket",
        headers=d,
        data={"asset": f"nope-{uid()}", "title": "x", "csrf": _csrf(form.text)},
    )
    assert bad.status_code == 404 and "not found" in bad.text
    bad = client.post(
        "/console/new-ticket",
        headers=d,
        data={"asset": asset, "title": "", "csrf": _csrf(form.text)},
    )
    assert bad.status_code == 422 and "title" in bad.text
    forged = client.post("/console/new-ticket", headers=d, data={"asset": asset, "title": "x"})
    assert forged.status_code == 403

    board = client.get(f"/console/board?q={asset}", headers=d).text
    card = board[board.index(f'data-ticket="{tid}"') :][:800]
    assert name in card and "eng #" not in card  # names, not ids
    assert f'data-ticket="{tid}"' not in client.get("/console/board?priority=P0", headers=d).text
    assert f'data-ticket="{tid}"' in client.get(f"/console/board?engineer={eng}", headers=d).text
    assert f'data-ticket="{tid}"' not in client.get("/console/board?q=zzz-nothing", headers=d).text

    export = client.get(f"/console/tickets.csv?q={asset}", headers=d)
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert [r["id"] for r in rows] == [str(tid)] and rows[0]["engineer"] == name
    assert rows[0]["title"] == "'=HYPERLINK(1)"  # no formula in a spreadsheet
    assert (
        client.get("/console/tickets.csv", headers=_cookie(engineer_token(eng))).status_code == 403
    )

    e = auth(engineer_token(eng))
    clock.advance(minutes=7)
    client.post(f"/tickets/{tid}/transitions", headers=e, json={"to": "accepted"})
    kp = client.get("/console/kpis?start=2026-01-05&end=2026-01-05", headers=d).text
    assert "7 min" in kp  # minutes, not "0.1 h"
    later = client.get("/console/kpis?start=2030-01-01", headers=d).text
    assert "7 min" not in later
    assert client.get("/console/kpis?start=yesterday", headers=d).status_code == 422
    k = client.get("/console/kpis.csv?start=2026-01-05&end=2026-01-05", headers=d)
    kr = list(csv.DictReader(io.StringIO(k.text.lstrip("\ufeff"))))
    assert any(r["grouping"] == "by_engineer" and r["group"] == name for r in kr)


def test_engineer_declines_and_dispatcher_accept_does_not_meet_the_sla(
    app, client, tokens, make_asset, make_engineer, engineer_token, clock
) -> None:
    cls = f"robot_{uid()}"
    first = make_engineer("first", asset_classes=[cls], shifts=ALL_DAY, home_lat=52.0, home_lon=4.0)
    second = make_engineer(
        "second", asset_classes=[cls], shifts=ALL_DAY, home_lat=52.4, home_lon=4.0
    )
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls), "title": "gripper", "priority": "P1"},
    ).json()["ticket"]
    assert t["engineer_id"] == first
    c1 = _cookie(engineer_token(first))
    page = client.get(f"/console/tickets/{t['id']}", headers=c1).text
    assert 'id="decline-form"' in page
    r = client.post(
        f"/console/tickets/{t['id']}/decline",
        headers=c1,
        data={"reason": "off sick", "csrf": _csrf(page)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    now = client.get(f"/tickets/{t['id']}", headers=auth(tokens["admin"])).json()
    assert now["engineer_id"] == second and now["state"] == "assigned"
    assert now["routing"][-1]["reason"] == "declined"
    # The second declines too: nobody else fits, it waits unassigned (never back to first).
    r = client.post(f"/tickets/{t['id']}/decline", headers=auth(engineer_token(second)), json={})
    assert r.status_code == 200 and r.json()["engineer_id"] is None and r.json()["state"] == "new"
    assert (
        client.post(
            f"/tickets/{t['id']}/decline", headers=auth(tokens["dispatcher"]), json={}
        ).status_code
        == 403
    )

    client.post(
        f"/tickets/{t['id']}/assign",
        headers=auth(tokens["dispatcher"]),
        json={"engineer_id": first, "reason": "back"},
    )
    # A dispatcher accepting for the engineer does not stop the response clock.
    r = client.post(
        f"/tickets/{t['id']}/transitions",
        headers=auth(tokens["dispatcher"]),
        json={"to": "accepted"},
    )
    assert r.status_code == 200 and r.json()["acknowledged_at"] is None
    again = client.post(f"/tickets/{t['id']}/decline", headers=auth(engineer_token(first)), json={})
    assert again.status_code == 409 and "not yet accepted" in again.json()["detail"]
    clock.advance(minutes=125)
    assert [a.kind for a in app.state.sla.scan() if a.ticket_id == t["id"]] == ["response_breach"]
