"""OPC UA into TimescaleDB through the normal path, from a server that is not asyncua.

The server is the older FreeOpcUa ``opcua`` package (threaded, synchronous, its own
codec and crypto), run with security None, Basic256Sha256 Sign and SignAndEncrypt and a
username/password check. The gateway subscribes, batches, buffers and publishes to a real
Mosquitto; an ingest worker stores into the test TimescaleDB. What the server wrote
(value and source timestamp) must be stored exactly once, in order, scaled as the node
map says. Faults tried: a node id that does not exist, a server whose certificate is not
trusted, a dead port, all beside a live server that must keep flowing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from gateway_kit import write_config
from opcua_kit import (
    PASSWORD,
    USER,
    ingest_settings,
    make_cert,
    write_nodemap,
)

from forewarn.contract import GatewayStatus, decode
from forewarn.settings import MqttSettings
from ingest import Ingestor
from ingest.config import load as load_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def ingest_worker(dsn: str, broker: Any) -> Any:
    started: list[Ingestor] = []

    def start(site: str) -> Ingestor:
        s = ingest_settings(dsn, broker.url, site)
        w = Ingestor(s, load_ingest(s)).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


@pytest.mark.parametrize(
    ("security", "given_cert"),
    [("None", False), ("Sign", False), ("SignAndEncrypt", False), ("SignAndEncrypt", True)],
)
def test_foreign_server_values_stored_exactly_once_in_order(
    security: str,
    given_cert: bool,
    tmp_path: Path,
    foreign_opcua: Any,
    broker: Any,
    dsn: str,
    ingest_worker: Any,
    gateway_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secure = security != "None"
    srv = foreign_opcua({"Pump1": ["speed", "temp"]}, secure=secure, users=secure)
    nodemap = write_nodemap(
        tmp_path / "plc_pump.yaml", ["speed", "temp"], temp={"scale": 0.1, "offset": -5}
    )
    site = f"ua{security.lower()}{'-given' if given_cert else ''}"
    asset = f"{site}-p1"
    server: dict[str, Any] = {
        "id": "plc",
        "url": srv.url,
        "security": security,
        "sampling_interval_ms": 0,
        "publishing_interval_ms": 50,
        "assets": [{"asset": asset, "nodemap": str(nodemap), "path": ["Pump1"]}],
    }
    if secure:
        monkeypatch.setenv("PLC_PASSWORD", PASSWORD)
        server |= {"trusted": str(srv.cert), "username": USER, "password_env": "PLC_PASSWORD"}
    if given_cert:  # a certificate from the site's own PKI instead of a generated one
        cert, key = make_cert(tmp_path / "site-pki", "gw-given", "urn:site:gateway:given")
        server |= {"certificate": str(cert), "private_key": str(key)}
    cfg = write_config(tmp_path / "gw.yaml", [], site=site, opcua=[server])
    ingest_worker(site)
    gw = gateway_factory(cfg, MqttSettings(url=broker.url))
    assert gw.gateway is not None
    health = gw.gateway.health.devices["plc"]
    _wait(lambda: health.state == "online", 30, f"the gateway to subscribe ({health.last_error})")
    if secure:
        assert USER in srv.logins  # the session was authenticated by the foreign server
        # The gateway generated its own certificate beside the config, or used the given one.
        assert (tmp_path / "pki" / "gw-test-opcua-cert.der").is_file() != given_cert

    sent: list[tuple[datetime, str, float]] = []
    for i in range(30):
        ts = datetime.now(UTC)
        speed, temp_raw = 1000.0 + i * 1.25, 200.0 + i
        srv.write("Pump1", "speed", speed, ts)
        srv.write("Pump1", "temp", temp_raw, ts)
        sent += [(ts, "speed_m", speed), (ts, "temp_m", temp_raw * 0.1 - 5)]
        time.sleep(0.02)
    first = sent[0][0]

    def stored() -> list[tuple[datetime, str, float]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "select time, metric, value from telemetry where asset = %s and time >= %s"
                " order by time, metric",
                (asset, first),
            ).fetchall()
        return [(t, m, v) for t, m, v in rows]

    try:
        _wait(lambda: len(stored()) >= len(sent), 60, "every value in TimescaleDB")
    except AssertionError:
        up = gw.gateway.health.uplink
        raise AssertionError(
            f"stored {len(stored())} of {len(sent)}; gateway produced {len(gw.produced)} samples,"
            f" published {up.samples_published}, uplink connected {up.connected}; {health}"
        ) from None
    got = stored()
    assert [(t, m) for t, m, _ in got] == [(t, m) for t, m, _ in sent]  # once each, in order
    for (_, _, want), (_, _, have) in zip(sent, got, strict=True):
        assert have == pytest.approx(want, rel=1e-12)
    assert health.state == "online" and health.last_error is None


def test_bad_node_untrusted_and_dead_servers_beside_a_live_one(
    tmp_path: Path,
    foreign_opcua: Any,
    dead_port: int,
    broker: Any,
    consumer_factory: Any,
    gateway_factory: Any,
) -> None:
    live = foreign_opcua({"Pump1": ["speed"], "Pump2": ["speed"]})
    stranger = foreign_opcua({"Pump1": ["speed"]}, secure=True)
    other_cert, _ = make_cert(tmp_path / "trusted", "someone-else", "urn:test:else")
    good = write_nodemap(tmp_path / "good.yaml", ["speed"])
    ghost = tmp_path / "ghost.yaml"
    doc = yaml.safe_load(good.read_text())
    doc["nodes"].append({"metric": "ghost_m", "node_id": "ns=2;s=NoSuchNode"})
    ghost.write_text(yaml.safe_dump(doc))

    def server(
        sid: str, url: str, asset: str, nodemap: Path, obj: str, **kw: Any
    ) -> dict[str, Any]:
        return {
            "id": sid,
            "url": url,
            "publishing_interval_ms": 50,
            "timeout_s": 1.0,
            "assets": [{"asset": asset, "nodemap": str(nodemap), "path": [obj]}],
            **kw,
        }

    servers = [
        server("live", live.url, "live-p1", good, "Pump1"),
        server("half", live.url, "half-p2", ghost, "Pump2"),
        server(
            "untrusted",
            stranger.url,
            "stranger-p1",
            good,
            "Pump1",
            security="SignAndEncrypt",
            trusted=str(other_cert),
        ),
        server("dead", f"opc.tcp://127.0.0.1:{dead_port}/", "dead-p1", good, "Pump1"),
    ]
    cfg = write_config(tmp_path / "gw.yaml", [], opcua=servers)
    s = MqttSettings(url=broker.url)
    consumer = consumer_factory(s, "opcua-faults")
    gw = gateway_factory(cfg, s)
    assert gw.gateway is not None
    dev = gw.gateway.health.devices
    _wait(lambda: dev["live"].state == "online", 30, "the live server")
    _wait(lambda: dev["half"].state == "degraded", 30, "the half-mapped server")
    for i in range(10):
        ts = datetime.now(UTC)
        live.write("Pump1", "speed", float(i), ts)
        live.write("Pump2", "speed", float(100 + i), ts)
        time.sleep(0.02)

    def values(asset: str) -> list[float]:
        with consumer.lock:
            return [
                s.values["speed_m"]
                for b in consumer.batches
                if b.asset == asset
                for s in b.samples
                if "speed_m" in s.values
            ]

    _wait(lambda: values("live-p1")[-10:] == [float(i) for i in range(10)], 30, "live values")
    _wait(lambda: values("half-p2")[-10:] == [100.0 + i for i in range(10)], 30, "half values")

    def last_status() -> dict[str, Any]:
        with consumer.lock:
            raw = [decode(GatewayStatus, p) for p in consumer.statuses]
        return {d.device: d for d in raw[-1].devices} if raw else {}

    _wait(
        lambda: (
            last_status().get("dead") is not None
            and last_status()["dead"].last_error != "not polled yet"
        ),
        30,
        "a status",
    )
    st = last_status()
    assert st["live"].state == "online"
    assert st["half"].state == "degraded"
    assert "ghost_m" in (st["half"].last_error or "") and "BadNodeIdUnknown" in (
        st["half"].last_error or ""
    )
    assert st["untrusted"].state == "offline"
    assert "not trusted" in (st["untrusted"].last_error or "")
    assert st["dead"].state == "offline"
    assert "cannot connect" in (st["dead"].last_error or "")
    assert gw._thread.is_alive()
