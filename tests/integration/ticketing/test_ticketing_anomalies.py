"""Anomaly events to predictive tickets: one per asset and fault mode, evidence, history,
duplicates, customer reports that we beat, over HTTP (uvicorn) and MQTT."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import paho.mqtt.client as paho
from ticketing_helpers import anomaly, auth, uid

from detectors import store
from forewarn import mqtt as fmqtt
from forewarn.contract import TicketEvent, decode
from forewarn.settings import MqttSettings
from ticketing.app import create_app


def test_many_concurrent_events_open_exactly_one_ticket(
    live_server, tokens, make_asset, db, make_engineer
) -> None:
    cls = f"pump_{uid()}"
    asset = make_asset(cls)
    make_engineer("Solo", asset_classes=[cls])
    events = [anomaly(asset, severity="critical" if i == 17 else "warning") for i in range(48)]

    def send(ev: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=30) as c:
            return c.post("/anomalies", json=ev, headers=auth(tokens["integration"]))

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, events))
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers][:3]
    outcomes = [r.json()["outcome"] for r in answers]
    assert outcomes.count("opened") == 1 and outcomes.count("evidence") == 47
    assert len({r.json()["ticket_id"] for r in answers}) == 1
    rows = db.execute("select id, priority from tickets where asset = %s", (asset,)).fetchall()
    assert len(rows) == 1
    assert rows[0][1] == "P1"  # the one critical event raised it
    n = db.execute(
        "select count(*) from ticket_anomalies where ticket_id = %s", (rows[0][0],)
    ).fetchone()
    assert n == (48,)


def test_evidence_priority_history_duplicates_and_fault_modes(client, tokens, make_asset) -> None:
    asset = make_asset(f"motor_{uid()}")
    h = auth(tokens["integration"])
    first = anomaly(asset)
    r = client.post("/anomalies", json=first, headers=h)
    assert r.status_code == 201 and r.json()["outcome"] == "opened"
    tid = r.json()["ticket_id"]
    assert r.json()["priority"] == "P2"
    # The same event again (a redelivery) changes nothing.
    again = client.post("/anomalies", json=first, headers=h)
    assert again.status_code == 200 and again.json() == {**r.json(), "outcome": "duplicate"}
    # A later, worse finding attaches and raises the priority (4 h to the limit: P0).
    worse = client.post(
        "/anomalies", json=anomaly(asset, severity="critical", time_to_limit_h=3), headers=h
    )
    assert worse.json() == {
        **worse.json(),
        "outcome": "evidence",
        "ticket_id": tid,
        "priority": "P0",
    }
    # Another fault mode on the same asset is another ticket.
    other = client.post("/anomalies", json=anomaly(asset, fault="seal_leak"), headers=h).json()
    assert other["outcome"] == "opened" and other["ticket_id"] != tid
    # Backfilled history never opens a ticket.
    hist_asset = make_asset(f"motor_{uid()}")
    hist = client.post("/anomalies", json=anomaly(hist_asset, historical=True), headers=h).json()
    assert hist["outcome"] == "historical" and hist["ticket_id"] is None
    listed = client.get(f"/tickets?asset={hist_asset}", headers=auth(tokens["admin"])).json()
    assert listed == []
    detail = client.get(f"/tickets/{tid}", headers=auth(tokens["admin"])).json()
    assert [e["outcome"] for e in detail["evidence"]] == ["opened", "evidence"]
    assert detail["priority"] == "P0" and detail["source"] == "predictive"


def test_customer_report_joins_the_predictive_ticket_and_we_were_first(
    client, tokens, make_asset, clock
) -> None:
    asset = make_asset(f"compressor_{uid()}")
    pred = client.post("/anomalies", json=anomaly(asset), headers=auth(tokens["integration"]))
    tid = pred.json()["ticket_id"]
    clock.advance(hours=30)
    r = client.post(
        "/tickets",
        headers=auth(tokens["integration"]),
        json={
            "asset": asset,
            "source": "customer",
            "title": "it makes a grinding noise",
            "contact": "ops@customer.example",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["linked_to_predictive"] is True and body["ticket"]["id"] == tid
    assert body["ticket"]["customer_reported_at"] is not None
    n = client.get(f"/tickets?asset={asset}", headers=auth(tokens["admin"])).json()
    assert len(n) == 1
    events = client.get(f"/tickets/{tid}/events", headers=auth(tokens["admin"])).json()
    linked = [e for e in events if e["action"] == "customer_report_linked"]
    assert linked and "1 day, 6:00:00 before the customer report" in linked[0]["after"]["note"]
    site = client.get("/kpis?group_by=site", headers=auth(tokens["admin"])).json()["rows"]
    row = next(r for r in site if r["group"] == "site-a")
    assert row["ticketed_before_customer"] is not None and row["ticketed_before_customer"] > 0
    assert row["predictive_lead_time_h"] is not None and row["predictive_lead_time_h"] > 0


def _wait(pred: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    return pred()


def test_anomalies_over_mqtt_open_tickets_and_ticket_events_go_out(
    settings, tokens, make_asset, make_engineer, clock, db
) -> None:
    from fastapi.testclient import TestClient

    asset = make_asset(f"pump_{uid()}")
    ms = MqttSettings(url=settings.mqtt.url)
    got: list[tuple[str, bytes]] = []
    seen = threading.Event()
    sub = fmqtt.paho_client(ms, fmqtt.client_id(ms, "t-sub"))

    def on_message(c: paho.Client, u: Any, m: paho.MQTTMessage) -> None:
        got.append((m.topic, bytes(m.payload)))
        seen.set()

    sub.on_message = on_message
    sub.on_connect = lambda c, u, f, rc, p=None: c.subscribe(
        [("forewarn/v1/site-a/tickets/+/event", 1), (f"forewarn/v1/site-a/{asset}/feedback", 1)]
    )
    fmqtt.connect_paho(sub, ms)
    pub = fmqtt.paho_client(ms, fmqtt.client_id(ms, "t-pub"))
    fmqtt.connect_paho(pub, ms)
    app = create_app(settings, clock=clock, background=False, mqtt=True)
    try:
        with TestClient(app) as client:
            assert _wait(lambda: app.state.mqtt_ready.is_set())
            ev = anomaly(asset)
            pub.publish(
                f"forewarn/v1/site-a/{asset}/anomaly", json.dumps(ev), qos=1
            ).wait_for_publish(5)
            pub.publish(
                f"forewarn/v1/site-a/{asset}/anomaly", b"{not json", qos=1
            ).wait_for_publish(5)
            listed = _wait(
                lambda: client.get(f"/tickets?asset={asset}", headers=auth(tokens["admin"])).json()
            )
            assert len(listed) == 1 and listed[0]["source"] == "predictive"
            assert seen.wait(10)
            topic, payload = got[0]
            assert topic == f"forewarn/v1/site-a/tickets/{listed[0]['id']}/event"
            created = decode(TicketEvent, payload)  # the contract's model, strictly
            assert created.event == "ticket.created" and created.asset == asset
            assert created.ticket_id == listed[0]["id"] and created.source == "predictive"
            dead = _wait(
                lambda: db.execute(
                    "select reason from dead_letters where service = 'ticketing' and topic = %s",
                    (f"forewarn/v1/site-a/{asset}/anomaly",),
                ).fetchall()
            )
            assert dead and "not JSON" in dead[0][0]
            # Resolving it writes the resolution for the detectors (the table only).
            tid, admin = listed[0]["id"], auth(tokens["admin"])
            eng = make_engineer("mqtt-eng")
            client.post(f"/tickets/{tid}/assign", json={"engineer_id": eng}, headers=admin)
            for to in ("accepted", "en_route", "on_site"):
                client.post(f"/tickets/{tid}/transitions", json={"to": to}, headers=admin)
            r = client.post(
                f"/tickets/{tid}/transitions",
                headers=admin,
                json={"to": "resolved", "resolution_code": "no_fault_found"},
            )
            assert r.status_code == 200, r.text
            events = _wait(
                lambda: [
                    e
                    for e in (decode(TicketEvent, p) for t, p in got if t.endswith("/event"))
                    if e.state == "resolved"
                ]
            )
            assert events and events[0].event == "ticket.state_changed"
            # the detectors' reader of the table gets the contract's model
            (fb,) = [f for f in store.pending_feedback(db, [asset]) if f.ticket_id == tid]
            assert fb.resolution_code == "no_fault_found" and fb.asset == asset
            assert fb.event_ids == [ev["event_id"]]
            # feedback travels one way: nothing on the old private MQTT topic
            time.sleep(0.5)
            assert not [t for t, _ in got if t.endswith("/feedback")]
    finally:
        for c in (sub, pub):
            c.disconnect()
            c.loop_stop()


def test_vague_findings_join_and_a_named_fault_names_the_vague_ticket(
    client, tokens, make_asset
) -> None:
    h = auth(tokens["integration"])
    asset = make_asset(f"pump_{uid()}")
    vague = client.post("/anomalies", json=anomaly(asset, fault=None), headers=h).json()
    assert vague["outcome"] == "opened"
    named = client.post("/anomalies", json=anomaly(asset, fault="cavitation"), headers=h).json()
    assert named == {**named, "outcome": "evidence", "ticket_id": vague["ticket_id"]}
    again = client.post("/anomalies", json=anomaly(asset, fault=None), headers=h).json()
    assert again["outcome"] == "evidence" and again["ticket_id"] == vague["ticket_id"]
    ticket = client.get(f"/tickets/{vague['ticket_id']}", headers=auth(tokens["admin"])).json()
    assert ticket["fault_mode"] == "cavitation" and ticket["evidence_total"] == 3
    assert ticket["title"] == f"cavitation suspected on {asset}"
    # A different named fault on the same asset is still a ticket of its own.
    other = client.post("/anomalies", json=anomaly(asset, fault="seal_leak"), headers=h).json()
    assert other["outcome"] == "opened" and other["ticket_id"] != vague["ticket_id"]


def test_the_health_outlook_of_the_opening_event_is_in_the_description(
    client, tokens, make_asset
) -> None:
    asset = make_asset(f"motor_{uid()}")
    ev = anomaly(asset, health=0.62, time_to_threshold_h=5.08)
    r = client.post("/anomalies", json=ev, headers=auth(tokens["integration"]))
    assert r.status_code == 201, r.text
    ticket = client.get(f"/tickets/{r.json()['ticket_id']}", headers=auth(tokens["admin"]))
    text = ticket.json()["description"]
    assert "Health index: 0.62 (1 healthy, 0 failed), 5.1 h from the alarm bar" in text
    at_bar = anomaly(make_asset(f"motor_{uid()}"), health=0.41, time_to_threshold_h=0.0)
    r = client.post("/anomalies", json=at_bar, headers=auth(tokens["integration"]))
    ticket = client.get(f"/tickets/{r.json()['ticket_id']}", headers=auth(tokens["admin"]))
    assert "Health index: 0.41 (1 healthy, 0 failed)." in ticket.json()["description"]
