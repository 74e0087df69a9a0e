"""Broker identities on a real Mosquitto in the production split (issue 14, items 2 and 4):
a gateway password cannot take over a service's session, and may publish only its site's
telemetry and its own status; anomalies come only from the detectors' user."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from broker_users import Audit, SplitBroker, split_broker, try_publish
from fastapi.testclient import TestClient
from security_helpers import (
    anomaly_event,
    dumps,
    ingest_settings,
    recent,
    telemetry,
    uid,
    wait_for,
)

from forewarn import mqtt
from forewarn.contract import StockLow, decode, topics, utc
from forewarn.errors import ServiceUnavailable
from forewarn.settings import Settings, load
from ingest import Ingestor
from ingest.config import load as load_ingest
from ticketing.app import create_app

pytestmark = pytest.mark.integration


def _batch(asset: str, i: int) -> dict[str, Any]:
    """One sample a batch, each at its own second (so none is a duplicate of another)."""
    ts = utc(recent() + timedelta(seconds=i))
    return {"asset": asset, "seq": i, "samples": [{"ts": ts, "values": {"temp_c": 20.0 + i}}]}


def _ticketing(settings: Settings, split: SplitBroker, prefix: str) -> Settings:
    """Ticketing's settings as its own broker user on the services' listener."""
    return load(
        path="/dev/null",
        environ={
            "FOREWARN_DATABASE__DSN": settings.database.dsn,
            "FOREWARN_MQTT__URL": split.broker.services_url,
            "FOREWARN_MQTT__USERNAME": "ticketing",
            "FOREWARN_MQTT__PASSWORD": split.passwords["ticketing"],
            "FOREWARN_MQTT__CLIENT_ID_PREFIX": prefix,
        },
    )


def _count(db: psycopg.Connection[Any], sql: str, *args: Any) -> int:
    row = db.execute(sql, args).fetchone()
    return int(row[0]) if row else 0


def test_gateway_password_cannot_take_over_a_service_session(
    dsn: str, mosquitto_factory: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried with a gateway's own valid password: connect with ingest's client id and a
    clean session (before the fix this wiped ingest's queued telemetry), the same with a
    persistent session subscribed to ``#`` (to steal the queue), and both on the services'
    listener (refused: not a service user). Ingest's queued messages must all arrive."""
    site = f"id{uid()}"
    split = split_broker(mosquitto_factory(), {f"{site}-gw": site})
    gw = f"{site}-gw"
    s = ingest_settings(
        dsn,
        split.broker.services_url,
        site,
        FOREWARN_MQTT__USERNAME="ingest",
        FOREWARN_MQTT__PASSWORD=split.passwords["ingest"],
    )
    asset = f"{site}-pump"
    topic = topics.telemetry(site, asset)
    worker = Ingestor(s, load_ingest(s)).start()
    try:  # the persistent session exists once a first batch is committed
        try_publish(split.device(gw), [(topic, dumps(_batch(asset, 0)))])
        wait_for(lambda: worker.metrics.messages >= 1, 30, "ingest to subscribe")
    finally:
        worker.stop()
    victim = worker.name  # e.g. <prefix>-ingest-solo-0, stable: its persistent session
    queued = [(topic, dumps(_batch(asset, i))) for i in range(1, 6)]
    try_publish(split.device(gw), queued)

    # The takeover: the gateway's user name, ingest's client id, clean then persistent.
    for clean in (True, False):
        thief = mqtt.paho_client(split.device(gw), victim, clean_session=clean)
        got: list[bytes] = []

        def steal(c: Any, u: Any, m: Any, got: list[bytes] = got) -> None:
            got.append(bytes(m.payload))

        thief.on_message = steal
        mqtt.connect_paho(thief, split.device(gw))
        thief.subscribe("#", qos=1)
        time.sleep(0.5)  # what the session held would arrive now
        thief.disconnect()
        thief.loop_stop()
        assert got == [], "a gateway read queued telemetry"
        on_services = split.device(gw).model_copy(update={"url": split.broker.services_url})
        with pytest.raises(ServiceUnavailable, match="refused"):
            mqtt.connect_paho(
                mqtt.paho_client(on_services, victim, clean_session=clean), on_services
            )

    worker = Ingestor(s, load_ingest(s)).start()
    try:
        wait_for(lambda: worker.metrics.messages >= len(queued), 30, "the queued batches")
    finally:
        worker.stop()
    assert _count(db, "select count(*) from telemetry where asset = %s", asset) == 6


def test_gateway_cannot_forge_anomalies_tickets_or_other_status(
    settings: Any, mosquitto_factory: Any, db: psycopg.Connection[Any]
) -> None:
    """Tried with a gateway's valid password, all QoS 1: an anomaly for a non-existent
    asset of its own site (before the fix it opened a P0 ticket), a ticket event, detector
    feedback, and a retained status for another gateway of its site. The broker delivers
    none of them; its own telemetry and status go through; a genuine anomaly from the
    detectors' user opens a ticket, so the consumer was listening."""
    site = f"fg{uid()}"
    gw = f"{site}-gw"
    split = split_broker(mosquitto_factory(), {gw: site})
    audit = Audit(split)
    ghost = f"{site}-ghost"
    forged_event = anomaly_event(site, ghost, severity="critical", score=0.99)
    forged = [
        (topics.anomaly(site, ghost), dumps(forged_event)),
        (topics.ticket_event(site, f"forged-{uid()}"), b'{"kind": "resolved"}'),
        (f"{topics.ROOT}/{site}/{ghost}/feedback", b'{"resolution": "no_fault_found"}'),
        (topics.gateway_status(site, f"{site}-other"), b'{"state": "offline"}'),
    ]
    own = [
        (topics.telemetry(site, f"{site}-pump"), dumps(telemetry(f"{site}-pump"))),
        (topics.gateway_status(site, gw), b'{"state": "online"}'),
    ]
    tk = _ticketing(settings, split, site)
    real = anomaly_event(site, f"{site}-real")
    db.execute(
        "insert into assets (asset, site, asset_class, lat, lon) values (%s, %s, %s, 52, 4)",
        (f"{site}-real", site, "centrifugal_pump"),
    )
    app = create_app(tk, background=False, mqtt=True)
    try:
        with TestClient(app):
            wait_for(lambda: app.state.mqtt_ready.is_set(), 20, "the consumer to subscribe")
            try_publish(split.device(gw), forged + own)
            try_publish(
                split.service("detectors"),
                [(topics.anomaly(site, f"{site}-real"), json.dumps(real).encode())],
            )
            wait_for(
                lambda: (
                    _count(
                        db,
                        "select count(*) from ticket_anomalies where event_id = %s",
                        real["event_id"],
                    )
                    == 1
                ),
                30,
                "the genuine anomaly's ticket",
            )
            wait_for(lambda: len(audit.got) >= len(own) + 1, 10, "the audit copies")
    finally:
        audit.close()
    assert _count(db, "select count(*) from tickets where asset = %s", ghost) == 0
    assert (
        _count(
            db,
            "select count(*) from ticket_anomalies where event_id = %s",
            forged_event["event_id"],
        )
        == 0
    )
    seen = {t for t, _ in audit.got}
    assert not seen & {t for t, _ in forged}, "the broker delivered a forged message"
    assert {t for t, _ in own} | {topics.anomaly(site, f"{site}-real")} <= seen


def test_ticketing_publishes_low_stock_on_the_secured_broker_and_a_gateway_cannot(
    settings: Any, mosquitto_factory: Any, sec_tokens: dict[str, str]
) -> None:
    """A store falling to its reorder point through the API: ticketing's own broker user
    publishes the contract's ``StockLow`` on ``forewarn/v1/{site}/stock/low`` and the broker
    delivers it (before, no ACL allowed that topic and the message was dropped), also for a
    shared store (site ``all``). A gateway of the site forging one is not delivered."""
    site = f"sl{uid()}"
    gw = f"{site}-gw"
    split = split_broker(mosquitto_factory(), {gw: site})
    audit = Audit(split, topics.STOCK_FILTER)
    app = create_app(_ticketing(settings, split, site), background=False, mqtt=True)
    h = {"Authorization": f"Bearer {sec_tokens['dispatcher']}"}
    try:
        with TestClient(app) as c:
            wait_for(lambda: app.state.runtime.publisher.is_connected(), 20, "the publisher")
            try_publish(split.device(gw), [(topics.stock_low(site), b'{"event": "stock.low"}')])
            r = c.post("/parts", json={"sku": f"brg-{site}", "name": "bearing 6205"}, headers=h)
            assert r.status_code == 201, r.text
            part = r.json()["id"]
            for store, body in [
                ("main", {"on_hand": 3, "reorder_point": 1, "site": site}),  # not low
                ("main", {"on_hand": 1}),  # available 1 <= 1: low
                ("main", {"on_hand": 0}),  # still low: not again
                ("central", {"on_hand": 0, "reorder_point": 0}),  # a shared store, low
            ]:
                r = c.put(f"/parts/{part}/stock/{store}", json=body, headers=h)
                assert r.status_code == 200, r.text
            wait_for(lambda: len(audit.got) >= 2, 20, "the low-stock messages")
            time.sleep(0.3)  # a wrongly repeated message would arrive now
    finally:
        audit.close()
    assert [t for t, _ in audit.got] == [topics.stock_low(site), topics.stock_low(None)]
    main, central = (decode(StockLow, payload) for _, payload in audit.got)
    assert (main.part_id, main.store, main.site, main.available, main.reorder_point) == (
        part,
        "main",
        site,
        1,
        1,
    )
    assert (central.store, central.site, central.available) == ("central", None, 0)
