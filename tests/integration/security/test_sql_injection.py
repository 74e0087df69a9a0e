"""SQL injection through every string a user or device controls.

Each classic payload (see ``security_helpers.INJECTIONS``: quote breaks, stacked queries,
``pg_sleep``, UNION, LIKE wildcards, backslash escapes, dollar quoting, comment tricks,
typographic and fullwidth quotes; plus NUL-byte variants) goes through the HTTP API, the
console's forms and MQTT. The answer is never a 5xx: either a 4xx that says what is wrong, or
the text stored and read back exactly as sent, which is only possible if it travelled as a
bound parameter (so a ``pg_sleep`` in it never ran). Afterwards every table is still there
and holds exactly the rows the accepted requests made.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient
from security_helpers import (
    INJECTIONS,
    NUL_INJECTIONS,
    anomaly_event,
    auth,
    dumps,
    ingest_settings,
    publish,
    tables_intact,
    telemetry,
    uid,
    wait_for,
)

from forewarn.contract import topics
from forewarn.settings import Settings
from ingest import Ingestor
from ingest.config import load as load_ingest
from ticketing.app import create_app

pytestmark = pytest.mark.integration
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _csrf(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def test_api_text_fields_store_injections_verbatim(
    client: TestClient, sec_tokens: dict[str, str], make_asset: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried: every payload as ticket title, description and contact, comment body, sub-task
    title, attachment file name and URL, engineer name and e-mail, and assignment reason."""
    h = auth(sec_tokens["admin"])
    asset = make_asset()
    before = db.execute("select count(*) from tickets").fetchone()
    for p in INJECTIONS:
        r = client.post(
            "/tickets", headers=h, json={"asset": asset, "title": p, "description": p, "contact": p}
        )
        assert r.status_code == 201, (p, r.status_code, r.text)
        tid = r.json()["ticket"]["id"]
        assert client.get(f"/tickets/{tid}", headers=h).json()["title"] == p
        answers = [
            client.post(f"/tickets/{tid}/comments", headers=h, json={"body": p}),
            client.post(f"/tickets/{tid}/subtasks", headers=h, json={"title": p}),
            client.post(
                f"/tickets/{tid}/attachments",
                headers=h,
                json={"filename": p, "content_type": "text/plain", "size_bytes": 1, "url": p},
            ),
        ]
        assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
        eng = client.post("/engineers", headers=h, json={"name": p, "email": p})
        assert eng.status_code == 201, eng.text
        eid = eng.json()["id"]
        r = client.post(f"/tickets/{tid}/assign", headers=h, json={"engineer_id": eid, "reason": p})
        assert r.status_code == 200, r.text
        row = db.execute(
            "select t.title, t.description, t.contact, c.body, s.title, a.filename, a.url,"
            " e.name, e.email from tickets t join comments c on c.ticket_id = t.id"
            " join subtasks s on s.ticket_id = t.id join attachments a on a.ticket_id = t.id"
            " join engineers e on e.id = t.engineer_id where t.id = %s",
            (tid,),
        ).fetchall()
        assert row == [(p,) * 9], (p, row)
        explained = db.execute(
            "select explanation from routing_decisions where ticket_id = %s and reason = 'manual'",
            (tid,),
        ).fetchone()
        assert explained is not None and explained[0].endswith(f": {p}; overrides routing.")
    after = db.execute("select count(*) from tickets").fetchone()
    assert before is not None and after == (before[0] + len(INJECTIONS),)
    assert db.execute("select count(*) from tickets where asset = %s", (asset,)).fetchone() == (
        len(INJECTIONS),
    )
    tables_intact(db)


def test_nul_bytes_in_api_text_fields_are_422_and_store_nothing(
    client: TestClient, sec_tokens: dict[str, str], make_asset: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried: NUL-byte payloads (which PostgreSQL text cannot hold) in the same fields."""
    h = auth(sec_tokens["admin"])
    asset = make_asset()
    tid = client.post("/tickets", headers=h, json={"asset": asset, "title": "ok"}).json()["ticket"][
        "id"
    ]
    for p in NUL_INJECTIONS:
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("/tickets", {"asset": asset, "title": p}, "title"),
            ("/tickets", {"asset": asset, "title": "x", "description": p}, "description"),
            (f"/tickets/{tid}/comments", {"body": p}, "body"),
            (f"/tickets/{tid}/subtasks", {"title": p}, "title"),
            ("/engineers", {"name": p}, "name"),
        ]
        for url, body, field in cases:
            r = client.post(url, headers=h, json=body)
            assert r.status_code == 422 and field in r.text, (url, r.status_code, r.text[:300])
    assert db.execute("select count(*) from tickets where asset = %s", (asset,)).fetchone() == (1,)
    assert db.execute("select count(*) from comments where ticket_id = %s", (tid,)).fetchone() == (
        0,
    )
    tables_intact(db)


def test_query_path_and_header_values_are_never_sql(
    client: TestClient, sec_tokens: dict[str, str], make_asset: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried: every payload (and the NUL ones) as the site and asset filters of the ticket
    list, as ticket, engineer and tracking-code path ids, as the KPI grouping, as a bearer
    token and as an Idempotency-Key. A filter must match nothing (it is a value, not SQL), an
    id must be a 422 naming it, a token a 401."""
    h = auth(sec_tokens["admin"])
    asset = make_asset()
    assert (
        client.post("/tickets", headers=h, json={"asset": asset, "title": "x"}).status_code == 201
    )
    total = db.execute("select count(*) from tickets").fetchone()
    for p in [*INJECTIONS, *NUL_INJECTIONS]:
        for params in ({"site": p}, {"asset": p}, {"asset": asset, "site": p}):
            r = client.get("/tickets", headers=h, params=params)
            if "\x00" in p:
                assert r.status_code == 422 and "NUL" in r.text, r.text
            else:
                assert r.status_code == 200 and r.json() == [], (params, r.text[:300])
        q = quote(p, safe="")
        for url, field in (
            (f"/tickets/{q}", "ticket_id"),
            (f"/engineers/{q}", "engineer_id"),
            (f"/track/{q}", "code"),
        ):
            r = client.get(url, headers=h)
            assert r.status_code in (404, 422), (url, r.status_code, r.text[:300])
            assert r.status_code == 404 or field in r.text, (url, r.text[:300])
        r = client.get("/kpis", headers=h, params={"group_by": p})
        assert r.status_code == 422 and "group_by" in r.text
        if "\x00" not in p and p.isascii():  # header values are latin-1 without NUL
            r = client.get("/tickets", headers=auth(p))
            assert r.status_code == 401 and "unknown or revoked token" in r.text
            r = client.post(
                "/tickets",
                headers={**h, "Idempotency-Key": p},
                json={"asset": asset, "title": "keyed"},
            )
            assert r.status_code in (201, 422), (p, r.status_code, r.text[:300])
    keyed = db.execute(
        "select count(*) from tickets where asset = %s and title = 'keyed'", (asset,)
    ).fetchone()
    assert keyed is not None
    after = db.execute("select count(*) from tickets").fetchone()
    assert total is not None and after == (total[0] + keyed[0],)
    tables_intact(db)


def test_console_forms_refuse_or_store_injections_verbatim(
    client: TestClient, sec_tokens: dict[str, str], make_asset: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried, with a valid CSRF token each time: every payload as the login token, as the
    login name with a real token, as the post-login ``next`` path, as a console ticket id,
    and as a comment body and transition note posted from the ticket page."""
    dispatcher = db.execute(
        "select name from api_tokens where name like 'sec-dispatcher-%%' limit 1"
    ).fetchone()
    assert dispatcher is not None
    for p in [*INJECTIONS, *NUL_INJECTIONS]:
        page = client.get("/console/login")
        r = client.post("/console/login", data={"csrf": _csrf(page.text), "token": p})
        assert r.status_code == 401 and "unknown or revoked token" in r.text, r.text[:300]
        page = client.get("/console/login")
        r = client.post(
            "/console/login",
            data={"csrf": _csrf(page.text), "token": sec_tokens["dispatcher"], "name": p},
        )
        assert r.status_code == 401 and "does not go with this token" in r.text
    page = client.get("/console/login")
    for p in INJECTIONS:
        page = client.get("/console/login")
        r = client.post(
            "/console/login",
            data={"csrf": _csrf(page.text), "token": sec_tokens["dispatcher"], "next": p},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/console/board", p
    asset = make_asset()
    h = auth(sec_tokens["dispatcher"])
    tid = client.post("/tickets", headers=h, json={"asset": asset, "title": "console"}).json()[
        "ticket"
    ]["id"]
    for p in INJECTIONS:
        bad = client.post(
            f"/console/tickets/{quote(p, safe='')}/comment", data={"body": "x", "csrf": "x"}
        )
        assert bad.status_code in (404, 405), (p, bad.status_code)
        csrf = _csrf(client.get(f"/console/tickets/{tid}").text)
        r = client.post(
            f"/console/tickets/{tid}/comment",
            data={"body": p, "csrf": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303, (p, r.status_code, r.text[:300])
    for p in NUL_INJECTIONS:
        csrf = _csrf(client.get(f"/console/tickets/{tid}").text)
        r = client.post(f"/console/tickets/{tid}/comment", data={"body": p, "csrf": csrf})
        assert r.status_code == 422 and "body" in r.text, (r.status_code, r.text[:300])
    csrf = _csrf(client.get(f"/console/tickets/{tid}").text)
    r = client.post(
        f"/console/tickets/{tid}/transition",
        data={"to": INJECTIONS[0], "note": INJECTIONS[1], "csrf": csrf},
    )
    assert r.status_code == 422 and "to" in r.text
    bodies = [
        b
        for (b,) in db.execute("select body from comments where ticket_id = %s order by id", (tid,))
    ]
    assert bodies == INJECTIONS
    tables_intact(db)


def test_mqtt_telemetry_injections_go_to_dead_letters_with_reasons(
    dsn: str, broker: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried: every payload as the asset in the topic (where MQTT allows it: no ``+``/``#``,
    no NUL), as the asset, asset class, gateway and metric names in the payload, and as an
    extra 'unit' key; then a good batch, which must still be stored."""
    site = f"sec{uid()}"
    s = ingest_settings(dsn, broker.url, site)
    worker = Ingestor(s, load_ingest(s)).start()
    good = f"{site}-ok"
    ok_topic = f"{topics.ROOT}/{site}/{good}/telemetry"
    messages: list[tuple[str, bytes]] = []
    for p in INJECTIONS:
        if "/" not in p and "+" not in p and "#" not in p:
            messages.append((f"{topics.ROOT}/{site}/{p}/telemetry", dumps(telemetry(p))))
        messages.append((ok_topic, dumps(telemetry(p))))
        messages.append((ok_topic, dumps(telemetry(good, asset_class=p))))
        messages.append((ok_topic, dumps(telemetry(good, gateway=p))))
        doc = telemetry(good)
        doc["samples"][0]["values"] = {p: 1.0}
        messages.append((ok_topic, dumps(doc)))
        messages.append((ok_topic, dumps(telemetry(good, unit=p))))
    messages.append((ok_topic, dumps(telemetry(good, n=3))))
    where = "select count(*) from dead_letters where service = 'ingest' and topic like %s"
    try:
        publish(broker.url, messages)
        wait_for(lambda: worker.metrics.messages >= len(messages), 60, "every message committed")
        assert all(t.is_alive() for t in worker._threads)
    finally:
        worker.stop()
    dead = db.execute(
        "select topic, reason, payload from dead_letters where service = 'ingest' and topic like %s",
        (f"{topics.ROOT}/{site}/%",),
    ).fetchall()
    assert len(dead) == len(messages) - 1, db.execute(where, (f"%{site}%",)).fetchone()
    assert all(reason for _, reason, _ in dead)
    assert {bytes(p) for _, _, p in dead} == {m[1] for m in messages[:-1]}  # kept verbatim
    reasons = " ".join(r for _, r, _ in dead)
    for word in ("asset", "asset_class", "gateway", "unit", "values"):
        assert word in reasons, word
    stored = db.execute("select count(*) from telemetry where asset = %s", (good,)).fetchone()
    assert stored == (3,)
    assert db.execute(
        "select count(*) from assets where asset = any(%s)", (INJECTIONS,)
    ).fetchone() == (0,)
    tables_intact(db)


def test_mqtt_anomaly_injections_are_stored_verbatim_or_dead_lettered(
    settings: Settings, broker: Any, make_asset: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried over MQTT into ticketing: every payload as the event id and the detector's name,
    version and config hash (free text: must be stored verbatim), and as the site, asset and
    fault mode (ids: must be dead-lettered with a reason); NUL variants must be
    dead-lettered, never half-stored."""
    site = "site-sec"
    asset = make_asset(site=site)
    topic = topics.anomaly(site, asset)

    def event(**kw: Any) -> dict[str, Any]:
        return anomaly_event(site, asset, **kw)

    stored: list[dict[str, Any]] = []
    refused: list[bytes] = []
    for p in INJECTIONS:
        ev = event(event_id=p[:64], detector={"name": p, "version": p, "config_hash": p})
        stored.append(ev)
        for bad in (event(fault_mode=p), event(asset=p), event(site=p)):
            refused.append(dumps(bad))
    for p in NUL_INJECTIONS:
        refused.append(dumps(event(detector={"name": p, "version": "1", "config_hash": "x"})))
    app = create_app(settings, background=False, mqtt=True)
    with TestClient(app):
        wait_for(lambda: app.state.mqtt_ready.is_set(), 20, "the consumer to subscribe")
        publish(broker.url, [(topic, dumps(ev)) for ev in stored] + [(topic, b) for b in refused])
        wait_for(
            lambda: (
                db.execute(
                    "select count(*) from dead_letters where service = 'ticketing' and"
                    " payload = any(%s)",
                    (refused,),
                ).fetchone()
                == (len(refused),)
                and db.execute(
                    "select count(*) from ticket_anomalies where asset = %s", (asset,)
                ).fetchone()
                == (len(stored),)
            ),
            60,
            "every event stored or dead-lettered",
        )
    rows = db.execute(
        "select event_id, payload->'detector' from ticket_anomalies where asset = %s", (asset,)
    ).fetchall()
    assert sorted(rows) == sorted((e["event_id"], e["detector"]) for e in stored)
    reasons = db.execute(
        "select reason from dead_letters where service = 'ticketing' and payload = any(%s)",
        (refused,),
    ).fetchall()
    assert all(r for (r,) in reasons)
    assert db.execute(
        "select count(*) from tickets where asset = %s and source = 'predictive'", (asset,)
    ).fetchone() == (1,)  # one open ticket per asset and fault mode, however many events
    tables_intact(db)
