"""OPC UA beyond the happy subscription: polling mode, a server that goes away and comes
back on the same port (reconnect with backoff), and ``forewarn gateway check --probe``
against the foreign (FreeOpcUa ``opcua``) server, including a node id that does not exist."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_kit import write_config
from opcua_kit import ForeignServer, write_nodemap
from typer.testing import CliRunner

from forewarn.settings import MqttSettings
from gateway.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _server(url: str, nodemap: Path, **kw: Any) -> dict[str, Any]:
    return {
        "id": "plc",
        "url": url,
        "timeout_s": 1.0,
        "publishing_interval_ms": 50,
        "assets": [{"asset": "p1", "nodemap": str(nodemap), "path": ["Pump1"]}],
        **kw,
    }


def test_poll_mode_and_reconnect_after_the_server_restarts(
    tmp_path: Path, foreign_opcua: Any, broker: Any, consumer_factory: Any, gateway_factory: Any
) -> None:
    srv = foreign_opcua({"Pump1": ["speed"]})
    srv.write("Pump1", "speed", 7.0, datetime.now(UTC))
    nodemap = write_nodemap(tmp_path / "pump.yaml", ["speed"])
    cfg = write_config(
        tmp_path / "gw.yaml", [], opcua=[_server(srv.url, nodemap, mode="poll", poll_period_s=0.1)]
    )
    s = MqttSettings(url=broker.url)
    consumer = consumer_factory(s, "opcua-modes")
    gw = gateway_factory(cfg, s)
    assert gw.gateway is not None
    health = gw.gateway.health.devices["plc"]

    def speeds() -> list[float]:
        with consumer.lock:
            return [x.values["speed_m"] for b in consumer.batches for x in b.samples]

    _wait(lambda: speeds().count(7.0) >= 5, 30, "polled samples")  # a sample per poll
    assert health.state == "online"

    srv.stop()  # the server goes away: offline with the reason, the task keeps trying
    _wait(lambda: health.state == "offline", 30, "the gateway to notice")
    assert health.last_error and srv.url.rstrip("/") in health.last_error
    back = ForeignServer(tmp_path / "pki2", {"Pump1": ["speed"]})
    back.port, back.url = srv.port, srv.url
    back.server.set_endpoint(srv.url)
    back.start()
    try:
        back.write("Pump1", "speed", 8.0, datetime.now(UTC))
        _wait(lambda: 8.0 in speeds(), 60, "samples after the restart")
        assert health.state == "online" and health.reconnects >= 2
    finally:
        back.stop()


def test_check_probe_reads_each_node_and_names_the_missing_one(
    tmp_path: Path, foreign_opcua: Any, dead_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = foreign_opcua({"Pump1": ["speed"]})
    srv.write("Pump1", "speed", 1234.5, datetime.now(UTC))
    nodemap = write_nodemap(tmp_path / "pump.yaml", ["speed"])
    doc = yaml.safe_load(nodemap.read_text())
    doc["nodes"].append({"metric": "ghost_m", "node_id": "ns=2;s=NoSuchNode"})
    nodemap.write_text(yaml.safe_dump(doc))
    dead = _server(f"opc.tcp://127.0.0.1:{dead_port}/", nodemap) | {"id": "gone"}
    dead["assets"] = [{"asset": "p9", "nodemap": str(nodemap)}]
    cfg = write_config(tmp_path / "gw.yaml", [], opcua=[_server(srv.url, nodemap), dead])
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(app, ["check", str(cfg), "--probe"])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "opcua plc:" in out and "1234.5" in out
    assert "ghost_m" in out and "BadNodeIdUnknown" in out
    assert "gone" in out and "cannot connect" in out
