"""Devices that are dead, mute or misbehaving cost only their own task.

Counts, not wall-clock assertions: a live device polled every 0.1 s for the run must
keep (generously) most of its polls while a dead port and a mute device sit beside it.
"""

from __future__ import annotations

import socketserver
import struct
import threading
import time

import pytest
from gateway_kit import PUMP_POINTS, write_config, write_profile

from forewarn.contract import GatewayStatus, decode
from forewarn.settings import MqttSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class _ShortAnswers(socketserver.BaseRequestHandler):
    """Answers every register read with one register, whatever count was asked."""

    def handle(self) -> None:
        while True:
            head = self.request.recv(7)
            if len(head) < 7:
                return
            tid, _pid, length, unit = struct.unpack(">HHHB", head)
            pdu = self.request.recv(length - 1)
            fc = pdu[0]
            body = bytes([fc, 2]) + struct.pack(">H", 42)
            self.request.sendall(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)


@pytest.fixture
def short_answer_device():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _ShortAnswers)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_dead_and_mute_devices_do_not_slow_live_ones(
    tmp_path, modbus_server, mute_device, dead_port, broker, consumer_factory, gateway_factory
):
    s = MqttSettings(url=broker.url)
    consumer = consumer_factory(s, "faults-consumer")
    profile = write_profile(tmp_path / "pump.yaml", PUMP_POINTS, poll_period_s=0.1)
    devices = []
    for i in range(3):
        srv = modbus_server()
        srv.data_bank.set_input_registers(0, [0x447A, 0, 215])  # 1000.0 rpm, 21.5 C
        devices.append(
            {
                "id": f"live{i}",
                "host": "127.0.0.1",
                "port": srv.port,
                "profile": str(profile),
                "asset": f"live-{i}",
            }
        )
    devices += [
        {
            "id": "dead",
            "host": "127.0.0.1",
            "port": dead_port,
            "profile": str(profile),
            "asset": "dead-1",
        },
        {
            "id": "mute",
            "host": "127.0.0.1",
            "port": mute_device,
            "profile": str(profile),
            "asset": "mute-1",
            "timeout_s": 1.0,
            "retries": 1,
        },
    ]
    gw = gateway_factory(write_config(tmp_path / "gw.yaml", devices), s)
    assert gw.gateway is not None
    time.sleep(0.5)
    start = {d: h.polls_ok for d, h in gw.gateway.health.devices.items()}
    t0 = time.monotonic()
    time.sleep(4.0)
    elapsed = time.monotonic() - t0
    health = gw.gateway.health.devices
    ok = {d: h.polls_ok - start[d] for d, h in health.items()}
    expected = elapsed / 0.1
    for i in range(3):
        assert ok[f"live{i}"] >= 0.6 * expected, (ok, expected)
        assert health[f"live{i}"].state == "online"
    assert ok["dead"] == 0 and health["dead"].state == "offline"
    assert "cannot connect" in (health["dead"].last_error or "")
    assert ok["mute"] == 0 and health["mute"].state == "offline"
    time.sleep(0.6)  # one more status period
    gw.stop()
    status = decode(GatewayStatus, consumer.statuses[-2])  # last before the clean "offline"
    states = {d.device: d.state for d in status.devices}
    assert states["dead"] == "offline" and states["mute"] == "offline"
    assert states["live0"] == "online" and status.state == "degraded"
    assert status.metrics["errors.dead"] > 0 and status.metrics["points.live0"] > 0
    print(f"live polls in {elapsed:.1f} s at 10 Hz: {ok} (expected ~{expected:.0f})")


def test_exception_codes_and_short_answers_degrade_not_crash(
    tmp_path, modbus_server, short_answer_device, broker, consumer_factory, gateway_factory
):
    s = MqttSettings(url=broker.url)
    consumer = consumer_factory(s, "garbage-consumer")
    small = modbus_server(h_regs_size=10)  # a read at holding 100 gets exception code 2
    small.data_bank.set_input_registers(0, [0x447A, 0, 215])
    points = [
        *PUMP_POINTS,
        {"name": "beyond", "kind": "holding", "address": 100, "type": "uint16", "metric": "beyond"},
    ]
    profile = write_profile(tmp_path / "p.yaml", points, poll_period_s=0.1)
    devices = [
        {
            "id": "partial",
            "host": "127.0.0.1",
            "port": small.port,
            "profile": str(profile),
            "asset": "partial-1",
        },
        {
            "id": "short",
            "host": "127.0.0.1",
            "port": short_answer_device,
            "profile": str(profile),
            "asset": "short-1",
        },
    ]
    gw = gateway_factory(write_config(tmp_path / "gw.yaml", devices), s)
    time.sleep(1.5)
    assert gw.gateway is not None
    health = gw.gateway.health.devices
    assert health["partial"].state == "degraded"
    assert "exception code 2" in (health["partial"].last_error or "")
    assert health["short"].state == "degraded"
    assert "expected" in (health["short"].last_error or "")
    gw.stop()
    partial = [b for b in consumer.batches if b.asset == "partial-1"]
    assert partial, "the points that did read are still published"
    assert all(
        "beyond" not in s.values and s.values["speed_rpm"] == 1000.0
        for b in partial
        for s in b.samples
    )


def test_polling_recovers_after_the_device_comes_back(
    tmp_path, modbus_server, broker, gateway_factory
):
    """The vendors' first complaint: polling dies after an outage and never recovers."""
    srv = modbus_server()
    srv.data_bank.set_input_registers(0, [0x447A, 0, 215])
    profile = write_profile(tmp_path / "pump.yaml", PUMP_POINTS, poll_period_s=0.1)
    cfg = write_config(
        tmp_path / "gw.yaml",
        [
            {
                "id": "d",
                "host": "127.0.0.1",
                "port": srv.port,
                "profile": str(profile),
                "asset": "pump-r",
            }
        ],
    )
    gw = gateway_factory(cfg, MqttSettings(url=broker.url))
    assert gw.gateway is not None
    health = gw.gateway.health.devices["d"]
    time.sleep(0.8)
    assert health.state == "online"
    srv.stop()
    deadline = time.monotonic() + 10
    while health.state != "offline" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert health.state == "offline"
    time.sleep(1.0)
    srv.start()  # same port, same registers
    before = health.polls_ok
    deadline = time.monotonic() + 15
    while health.polls_ok < before + 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert health.polls_ok >= before + 5 and health.state == "online"
    assert health.reconnects >= 2
    gw.stop()
