"""A SIGKILLed broker loses nothing the gateway sent (issue 14, item 6), on a real Mosquitto.

Mosquitto acknowledges a QoS 1 message from memory and saves its store every
``autosave_interval`` (60 s here and in deploy/): a SIGKILL loses what it acknowledged
since the last save. The gateway therefore holds acknowledged batches (``ack_hold_s``,
longer than that interval) and resends them after reconnecting; a duplicate is harmless
downstream (ingest's idempotent keys, the detectors skip samples already seen).
"""

from __future__ import annotations

import time

import pytest
from gateway_kit import PUMP_POINTS, Consumer, write_config, write_profile

from forewarn.settings import MqttSettings

pytestmark = pytest.mark.integration


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_broker_sigkill_after_puback_loses_nothing(
    tmp_path, modbus_server, mosquitto_factory, gateway_factory
):
    """Tried: the consumer (ingest's stand-in, a persistent QoS 1 session) is down, the
    gateway publishes and gets its PUBACKs, then the broker is SIGKILLed before its next
    save and restarted. Before the fix every acknowledged sample was gone."""
    broker = mosquitto_factory()
    s = MqttSettings(url=broker.url)
    Consumer(s).start("kill-consumer").close()  # its session queues while it is away
    broker.restart()  # graceful: the session (not yet any message) is on disk
    srv = modbus_server()
    srv.data_bank.set_input_registers(0, [0x447A, 0, 215])
    profile = write_profile(tmp_path / "pump.yaml", PUMP_POINTS)
    device = {
        "id": "d",
        "host": "127.0.0.1",
        "port": srv.port,
        "profile": str(profile),
        "asset": "pump-kill",
    }
    cfg = write_config(tmp_path / "gw.yaml", [device], gateway="gw-kill")
    gw = gateway_factory(cfg, s)
    assert gw.gateway is not None
    uplink = gw.gateway.health.uplink
    _wait(lambda: uplink.batches_published >= 5, 30, "acknowledged batches")
    _wait(lambda: gw.gateway is not None and gw.gateway.buffer.held() > 0, 10, "held batches")
    acked_before_kill = uplink.samples_published
    broker.kill()
    broker.start()
    _wait(lambda: uplink.connects >= 2 and uplink.connected, 30, "the gateway to reconnect")
    _wait(lambda: gw.gateway is not None and gw.gateway.buffer.depth()[0] == 0, 30, "resend")
    gw.stop()
    produced = set(gw.produced)
    consumer = Consumer(s).start("kill-consumer")
    try:
        consumer.wait_for(produced, timeout=30)
        arrived = {(a, t) for a, t, _ in consumer.samples()}
    finally:
        consumer.close()
    assert acked_before_kill > 0
    missing = produced - arrived
    assert not missing, f"{len(missing)} of {len(produced)} samples lost by the broker kill"
