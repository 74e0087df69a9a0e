"""Sparkplug B under the production broker split, on a real Mosquitto: ingest with the
rules of ``service-credentials ingest --sparkplug`` (services' listener) decodes a
simulated edge node whose user has only ``sparkplug_node_rules`` (device listener),
stores every reading, republishes it as v1 JSON and publishes the node's status; a
rebirth request from ingest reaches the node. Tried with the node's valid password:
publishing as another edge node of its group, and as itself in another group (both
dropped by the broker, so intake never sees them)."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from broker_users import split_broker, try_publish
from security_helpers import ingest_settings, uid, wait_for

from device_sim import Fleet, parse_scenario
from device_sim.runner import run
from device_sim.sparkplug_out import SparkplugFleet
from forewarn import mqtt
from gateway.credentials import add_service, add_sparkplug_node, add_user
from ingest import Ingestor
from ingest.config import load as load_ingest
from ingest.sparkplug.proto import rebirth_request

pytestmark = pytest.mark.integration

STEPS = 12


def _scenario(site: str) -> str:
    return (
        f"name: spb-acl\nseed: 3\nduration: 1h\nsample_period_s: 60\nbatch_samples: 4\n"
        f"sites: [{{id: {site}, lat: 50, lon: 8}}]\n"
        f"fleet:\n  - {{site: {site}, asset_class: centrifugal_pump, count: 2, prefix: {site}-P}}\n"
    )


def test_sparkplug_ingest_and_edge_node_users_on_the_split_broker(
    dsn: str, mosquitto_factory: Any, db: psycopg.Connection[Any]
) -> None:
    site = f"spb{uid()}"
    edge = f"sim-{site}"  # the simulator's edge node id for this site
    split = split_broker(mosquitto_factory(), {})
    home = split.broker.home
    sp, sa = home / "services.passwd", home / "services.acl"
    split.passwords["ingest"] = add_service(sp, sa, "ingest", sparkplug=True)
    split.passwords["audit"] = add_user(
        sp, sa, "audit", ["topic read forewarn/#", "topic read spBv1.0/#"]
    )
    split.passwords[edge] = add_sparkplug_node(
        home / "devices.passwd", home / "devices.acl", edge, site
    )
    split.broker.restart()

    seen: list[str] = []
    audit = mqtt.paho_client(split.service("audit"), f"audit-{uid()}")
    audit.on_message = lambda c, u, m: seen.append(m.topic)
    mqtt.connect_paho(audit, split.service("audit"))
    audit.subscribe([("forewarn/#", 1), ("spBv1.0/#", 1)])

    s = ingest_settings(
        dsn,
        split.broker.services_url,
        site,
        FOREWARN_MQTT__USERNAME="ingest",
        FOREWARN_MQTT__PASSWORD=split.passwords["ingest"],
        FOREWARN_SPARKPLUG__ENABLED="true",
        FOREWARN_SPARKPLUG__GROUP_FILTER=site,
    )
    worker = Ingestor(s, load_ingest(s)).start()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(
        days=2, minutes=secrets.randbelow(10_000)
    )
    fleet = Fleet(parse_scenario(_scenario(site)), start=start)
    out = SparkplugFleet(fleet, split.device(edge), batch_samples=1)  # none held back
    try:
        out.start()
        asyncio.run(run(fleet, [out], steps=STEPS, speed=None))
        want = STEPS * len(fleet.assets)
        stored = "select count(distinct (asset, time)) from telemetry where asset like %s"
        wait_for(
            lambda: db.execute(stored, (f"{site}-P%",)).fetchone()[0] >= want, 30, "the readings"
        )
        # Ingest's rebirth request (its NCMD write) reaches the node (its NCMD read).
        try_publish(split.service("ingest"), [(f"spBv1.0/{site}/NCMD/{edge}", rebirth_request(0))])
        wait_for(lambda: out.rebirths >= 1, 10, "the rebirth")
        # The node's own password, forging another node of its group and its node in
        # another group: the broker drops both, so the audit sees neither.
        forged = [f"spBv1.0/{site}/NDATA/other-edge", f"spBv1.0/x{site}/NDATA/{edge}"]
        try_publish(split.device(edge), [(t, b"\x08\x01") for t in forged], ident=edge)
        time.sleep(1)
    finally:
        out.stop()
        worker.stop()
        audit.disconnect()
        audit.loop_stop()
    assert db.execute(stored, (f"{site}-P%",)).fetchone()[0] == want
    assert not set(forged) & set(seen)
    republished = {f"forewarn/v1/{site}/{a.id}/telemetry" for a in fleet.assets}
    assert republished <= set(seen)  # ingest may write the JSON republish
    assert f"forewarn/v1/{site}/gateways/{edge}/status" in seen  # and the node's status
    assert f"spBv1.0/{site}/NBIRTH/{edge}" in seen  # the node wrote its birth
    dead = "select count(*) from dead_letters where topic like %s"
    assert db.execute(dead, (f"spBv1.0/{site}/%",)).fetchone()[0] == 0
