"""`forewarn gateway run` as a real process: online status while it runs, and when it is
killed (no clean disconnect) the broker publishes its last will, retained: offline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from gateway_kit import PUMP_POINTS, Consumer, write_config, write_profile

from forewarn.contract import GatewayStatus, decode
from forewarn.settings import MqttSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait_status(consumer: Consumer, state: str, timeout: float = 15) -> GatewayStatus:
    """The last status of this test's gateway (other tests' gateways leave retained ones on the
    session's broker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with consumer.lock:
            got = [decode(GatewayStatus, p) for p in consumer.statuses]
        got = [g for g in got if g.gateway == "gw-proc"]
        if got and got[-1].state == state:
            return got[-1]
        time.sleep(0.1)
    raise AssertionError(f"no {state!r} status; saw {[g.state for g in got]}")


def test_killed_gateway_is_offline_at_once_via_its_last_will(
    tmp_path, modbus_server, broker, consumer_factory
):
    srv = modbus_server()
    srv.data_bank.set_input_registers(0, [0x447A, 0, 215])
    profile = write_profile(tmp_path / "pump.yaml", PUMP_POINTS)
    cfg = write_config(
        tmp_path / "gw.yaml",
        [
            {
                "id": "d",
                "host": "127.0.0.1",
                "port": srv.port,
                "profile": str(profile),
                "asset": "pump-proc",
            }
        ],
        gateway="gw-proc",
    )
    s = MqttSettings(url=broker.url)
    consumer = consumer_factory(s, "will-consumer")
    env = {**os.environ, "FOREWARN_MQTT__URL": broker.url, "FOREWARN_CONFIG": os.devnull}
    proc = subprocess.Popen(
        [sys.executable, "-m", "forewarn", "gateway", "run", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        online = _wait_status(consumer, "online")
        assert online.gateway == "gw-proc" and online.devices[0].state == "online"
        deadline = time.monotonic() + 10
        while not consumer.batches and time.monotonic() < deadline:
            time.sleep(0.05)
        assert consumer.batches[0].asset == "pump-proc", "telemetry flows"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        will = _wait_status(consumer, "offline", timeout=5)
        assert will.gateway == "gw-proc"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # Retained: a dashboard that connects later sees it too.
    late = consumer_factory(s, "late-consumer")
    assert _wait_status(late, "offline", timeout=5).gateway == "gw-proc"
