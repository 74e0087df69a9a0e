"""Issue 14 item 8 on the routes added after it (asset register, maintenance, parts, people).

Attack tried: dispatcher and admin tokens scoped to site A reach for site B's asset (read,
history, meters, a reading, downtime), its CSV (export, a row imported for site B or
overwriting B's asset), its PM plan (create, read, patch, occurrences), the forecast, parts
from B's store, B's ticket (time entries, reservation, job plan, work, photo), the KPIs that
span every site (maintenance, CSAT), on-call rotations and escalation chains of B (list,
acknowledge), and the console pages. Existing things of B answer 404, requests naming B
answer 403, lists are filtered; an unscoped token still sees and does all of it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from security_helpers import uid

from forewarn import db as fdb
from ticketing.attachments import AttachmentSettings
from ticketing.auth import create_token

T0 = "2026-01-05T08:00:00Z"
T1 = "2026-01-05T09:00:00Z"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(
    client: TestClient, dsn: str, sec_tokens: dict[str, str], make_asset: Callable[..., str]
) -> dict[str, Any]:
    """Sites A and B, an asset, a ticket, a PM plan, a downtime and a store on each."""
    site_a, site_b = f"sc-a-{uid()}", f"sc-b-{uid()}"
    asset_a, asset_b = make_asset(site=site_a), make_asset(site=site_b)
    with fdb.connect(dsn, autocommit=True) as conn:
        scoped = {
            role: create_token(conn, f"scoped-{role}-{uid()}", role, sites=[site_a])[1]
            for role in ("dispatcher", "admin")
        }
    u = _auth(sec_tokens["admin"])
    tickets = {}
    for site, asset in ((site_a, asset_a), (site_b, asset_b)):
        r = client.post("/tickets", json={"asset": asset, "title": f"t-{site}"}, headers=u)
        assert r.status_code == 201, r.text
        tickets[site] = r.json()["ticket"]["id"]
    plan = {"name": "grease", "asset": asset_b, "every_days": 7}
    r = client.post("/pm-plans", json=plan, headers=u)
    assert r.status_code == 201, r.text
    plan_b = r.json()["id"]
    r = client.post(f"/assets/{asset_b}/downtime", json={"started_at": T0}, headers=u)
    assert r.status_code == 201, r.text
    downtime_b = r.json()["id"]
    r = client.post("/parts", json={"sku": f"sku-{uid()}", "name": "belt"}, headers=u)
    part = r.json()["id"]
    stock = {"on_hand": 5, "site": site_b}
    r = client.put(f"/parts/{part}/stock/store-{site_b}", json=stock, headers=u)
    assert r.status_code == 200, r.text
    return {
        "a": site_a,
        "b": site_b,
        "asset_a": asset_a,
        "asset_b": asset_b,
        "ticket_a": tickets[site_a],
        "ticket_b": tickets[site_b],
        "plan_b": plan_b,
        "downtime_b": downtime_b,
        "part": part,
        "d": _auth(scoped["dispatcher"]),
        "adm": _auth(scoped["admin"]),
        "dispatcher_token": scoped["dispatcher"],
        "u": u,
    }


def test_asset_register_and_csv(client: TestClient, world: dict[str, Any]) -> None:
    w, d = world, world["d"]
    b = w["asset_b"]
    for path in (f"/assets/{b}", f"/assets/{b}/history", f"/assets/{b}/meters"):
        r = client.get(path, headers=d)
        assert r.status_code == 404, (path, r.text)
        assert f"asset {b} not found" in r.json()["detail"]
    for method, path, body in [
        ("patch", f"/assets/{b}", {"name": "renamed"}),
        ("delete", f"/assets/{b}", None),
        ("post", f"/assets/{b}/meters", {"meter": "running_hours", "value": 5}),
        ("post", f"/assets/{b}/downtime", {"started_at": T1}),
        ("get", f"/assets/{b}/downtime", None),
        ("get", f"/assets/{b}/qr.svg", None),
    ]:
        r = client.request(method, path, json=body, headers=d)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    # naming site B: 403 (list, export, create, move an own asset there)
    assert client.get("/assets", params={"site": w["b"]}, headers=d).status_code == 403
    assert client.get("/asset-csv", params={"site": w["b"]}, headers=d).status_code == 403
    r = client.post("/assets", json={"asset": f"n-{uid()}", "site": w["b"]}, headers=d)
    assert r.status_code == 403, r.text
    r = client.patch(f"/assets/{w['asset_a']}", json={"site": w["b"]}, headers=d)
    assert r.status_code == 403, r.text
    # lists and the export: site A only
    assert {a["site"] for a in client.get("/assets", headers=d).json()} == {w["a"]}
    text = client.get("/asset-csv", headers=d).text
    assert {row["site"] for row in csv.DictReader(io.StringIO(text))} == {w["a"]}
    # import: a row for site B is 403, a row overwriting B's asset as site A is 404;
    # all or nothing, so the valid row beside it is not written either
    new = f"n-{uid()}"
    for bad, code in ((f"{new}-b,{w['b']}", 403), (f"{b},{w['a']}", 404)):
        body = f"asset,site\n{new},{w['a']}\n{bad}\n"
        r = client.post("/asset-csv", content=body, headers={**d, "Content-Type": "text/csv"})
        assert r.status_code == code, r.text
    assert client.get(f"/assets/{new}", headers=w["u"]).status_code == 404
    assert client.get(f"/assets/{b}", headers=w["u"]).json()["site"] == w["b"]
    # the console: register filtered, asset page 404, edit refused
    client.cookies.set("fw_console", w["dispatcher_token"])
    assert b not in client.get("/console/assets").text
    assert client.get(f"/console/assets/{b}").status_code == 404
    assert client.get(f"/console/assets/{b}/label").status_code == 404
    # control: the unscoped token sees B's asset and both sites in the export
    u = w["u"]
    assert client.get(f"/assets/{b}/history", headers=u).status_code == 200
    text = client.get("/asset-csv", headers=u).text
    assert {w["a"], w["b"]} <= {row["site"] for row in csv.DictReader(io.StringIO(text))}


def test_pm_forecast_downtime_and_kpis(client: TestClient, world: dict[str, Any]) -> None:
    w, d = world, world["d"]
    plan = w["plan_b"]
    r = client.post(
        "/pm-plans", json={"name": "x", "asset": w["asset_b"], "every_days": 7}, headers=d
    )
    assert r.status_code == 404, r.text
    for method, path, body in [
        ("get", f"/pm-plans/{plan}", None),
        ("patch", f"/pm-plans/{plan}", {"name": "renamed"}),
        ("get", f"/pm-plans/{plan}/occurrences", None),
        ("patch", f"/downtime/{w['downtime_b']}", {"ended_at": T1}),
    ]:
        r = client.request(method, path, json=body, headers=d)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    assert plan not in {p["id"] for p in client.get("/pm-plans", headers=d).json()}
    assert (
        client.get("/maintenance/forecast", params={"site": w["b"]}, headers=d).status_code == 403
    )
    sites = {f["site"] for f in client.get("/maintenance/forecast", headers=d).json()}
    assert w["b"] not in sites
    # KPIs spanning every site: refused to scoped tokens (API and console)
    assert client.get("/maintenance/kpis", headers=d).status_code == 403
    assert client.get("/kpis/csat", headers=d).status_code == 403
    client.cookies.set("fw_console", w["dispatcher_token"])
    assert client.get("/console/maintenance/kpis").status_code == 403
    assert w["asset_b"] not in client.get("/console/maintenance/forecast").text
    # control: unscoped
    u = w["u"]
    assert client.get(f"/pm-plans/{plan}", headers=u).status_code == 200
    assert w["b"] in {f["site"] for f in client.get("/maintenance/forecast", headers=u).json()}
    assert client.get("/maintenance/kpis", headers=u).status_code == 200
    assert client.get("/kpis/csat", headers=u).status_code == 200
    r = client.patch(f"/downtime/{w['downtime_b']}", json={"ended_at": T1}, headers=u)
    assert r.status_code == 200, r.text


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def test_parts_tickets_photos_and_people(
    client: TestClient, world: dict[str, Any], tmp_path: Path
) -> None:
    w, d = world, world["d"]
    tb, part = w["ticket_b"], w["part"]
    client.app.state.attachments = AttachmentSettings(  # type: ignore[attr-defined]
        directory=str(tmp_path), max_bytes=100_000
    )
    slot = {"started_at": T0, "ended_at": T1, "engineer_id": None}
    for method, path, body in [
        ("post", f"/tickets/{tb}/time", {k: v for k, v in slot.items() if v}),
        ("get", f"/tickets/{tb}/time", None),
        ("post", f"/tickets/{tb}/reservations", {"part_id": part, "qty": 1}),
        ("get", f"/tickets/{tb}/work", None),
        ("post", f"/tickets/{tb}/job-plan", {"job_plan_id": 1}),
    ]:
        r = client.request(method, path, json=body, headers=d)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    r = client.post(
        f"/tickets/{tb}/photos", headers=d, files={"file": ("p.jpg", _jpeg(), "image/jpeg")}
    )
    assert r.status_code == 404, r.text
    # site B's store: hidden from the part, not reservable for A's ticket, not countable
    assert client.get(f"/parts/{part}", headers=d).json()["stock"] == []
    r = client.post(
        f"/tickets/{w['ticket_a']}/reservations", json={"part_id": part, "qty": 1}, headers=d
    )
    assert r.status_code == 409, r.text
    r = client.put(f"/parts/{part}/stock/store-{w['b']}", json={"on_hand": 0}, headers=d)
    assert r.status_code == 404, r.text
    r = client.put(f"/parts/{part}/stock/new-{uid()}", json={"on_hand": 1}, headers=d)
    assert r.status_code == 403, r.text  # a shared store (no site) spans every site
    # on-call: a rotation for site B or for every site is 403 (checked before its members)
    for site in (w["b"], "*"):
        rot = {"name": "r", "site": site, "members": [1], "handoff_at": T0}
        r = client.post("/notifications/rotations", json=rot, headers=w["adm"])
        assert r.status_code == 403, r.text
        assert "site" in r.json()["detail"]
    # the console's new-ticket form lists only site A's assets
    client.cookies.set("fw_console", w["dispatcher_token"])
    form = client.get("/console/new-ticket").text
    assert w["asset_a"] in form and w["asset_b"] not in form
    # control: the unscoped token reserves from B's store for B's ticket
    u = w["u"]
    r = client.post(f"/tickets/{tb}/reservations", json={"part_id": part, "qty": 1}, headers=u)
    assert r.status_code == 201, r.text
    assert r.json()["store"] == f"store-{w['b']}"


def test_oncall_rotations_and_chains(
    client: TestClient, world: dict[str, Any], db: psycopg.Connection[Any]
) -> None:
    """Rotations, escalation chains (API list, acknowledge, console page) and the
    notification outbox of site B's ticket."""
    w, d = world, world["d"]
    ids: dict[str, dict[str, int]] = {}
    for key in ("a", "b"):
        rot = db.execute(
            "insert into oncall_rotations (name, site, members, handoff_at, created_at)"
            " values (%s, %s, '{1}', now(), now()) returning id",
            (f"rot-{w[key]}", w[key]),
        ).fetchone()
        chain = db.execute(
            "insert into escalation_chains (ticket_id, reason, chain, started_at)"
            " values (%s, 'response_breach', '{1}', now()) returning id",
            (w[f"ticket_{key}"],),
        ).fetchone()
        assert rot is not None and chain is not None
        ids[key] = {"rotation": rot[0], "chain": chain[0]}
    channel = db.execute(
        "insert into notification_channels (role, url, active, created_at)"
        " values ('dispatcher', 'json://127.0.0.1:9/x', false, now()) returning id"
    ).fetchone()
    assert channel is not None
    for key in ("a", "b"):
        db.execute(
            "insert into notification_outbox (channel_id, event, ticket_id, title, body, status,"
            " next_attempt_at, created_at, delivered_at)"  # delivered: no sender picks it up
            " values (%s, 'assigned', %s, %s, 'x', 'delivered', now(), now(), now())",
            (channel[0], w[f"ticket_{key}"], f"out-{w[key]}"),
        )
    titles = {o["title"] for o in client.get("/notifications/outbox", headers=d).json()}
    assert f"out-{w['a']}" in titles and f"out-{w['b']}" not in titles
    rotations = {r["id"] for r in client.get("/notifications/rotations", headers=d).json()}
    assert ids["a"]["rotation"] in rotations and ids["b"]["rotation"] not in rotations
    chains = {c["id"] for c in client.get("/notifications/chains", headers=d).json()}
    assert ids["a"]["chain"] in chains and ids["b"]["chain"] not in chains
    r = client.post(f"/notifications/chains/{ids['b']['chain']}/ack", headers=d)
    assert r.status_code == 404, r.text
    assert client.post(f"/notifications/chains/{ids['a']['chain']}/ack", headers=d).is_success
    client.cookies.set("fw_console", w["dispatcher_token"])
    page = client.get("/console/oncall").text
    assert f"t-{w['a']}" in page and f"t-{w['b']}" not in page
    # control: the unscoped token sees and acknowledges site B's
    u = w["u"]
    rotations = {r["id"] for r in client.get("/notifications/rotations", headers=u).json()}
    assert ids["b"]["rotation"] in rotations
    titles = {o["title"] for o in client.get("/notifications/outbox", headers=u).json()}
    assert f"out-{w['b']}" in titles
    assert client.post(f"/notifications/chains/{ids['b']['chain']}/ack", headers=u).is_success
