"""The retained status tells the truth (issue 14, item 11), on a real Mosquitto: the first
status waits for the first poll instead of saying ``degraded``, and the last will of a
SIGKILLed gateway carries recent figures and a recent ``ts``, not those of its connect."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from gateway_kit import PUMP_POINTS, Consumer, write_config, write_profile

from forewarn.contract import GatewayStatus, decode
from forewarn.settings import MqttSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def slow_first_answer(modbus_server) -> Iterator[int]:
    """A Modbus device (pyModbusTCP behind a relay) whose first answer takes 1.5 s, as a
    device waking up does: the window in which the first status used to go out."""
    srv = modbus_server()
    srv.data_bank.set_input_registers(0, [0x447A, 0, 215])
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    first = threading.Event()

    def pipe(src: socket.socket, dst: socket.socket, delay: bool) -> None:
        try:
            while data := src.recv(65536):
                if delay and not first.is_set():
                    time.sleep(1.5)
                    first.set()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def accept() -> None:
        while True:
            try:
                conn, _ = lsn.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", srv.port))
            threading.Thread(target=pipe, args=(conn, up, False), daemon=True).start()
            threading.Thread(target=pipe, args=(up, conn, True), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield lsn.getsockname()[1]
    lsn.close()


def _statuses(consumer: Consumer, gateway: str) -> list[GatewayStatus]:
    with consumer.lock:
        got = [decode(GatewayStatus, p) for p in consumer.statuses]
    return [g for g in got if g.gateway == gateway]


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_first_status_waits_for_the_first_poll_and_the_will_is_recent(
    tmp_path, slow_first_answer, mosquitto_factory
):
    """Tried: a healthy device whose first answer is slow (before the fix the first
    retained status said ``degraded``), then a SIGKILL of the gateway process after it
    had published for a while (before the fix the will carried the ``ts`` and zero
    counters of its connect)."""
    broker = mosquitto_factory()
    profile = write_profile(tmp_path / "pump.yaml", PUMP_POINTS, timeout_s=5.0)
    gw = "gw-truth"
    cfg = write_config(
        tmp_path / "gw.yaml",
        [
            {
                "id": "d",
                "host": "127.0.0.1",
                "port": slow_first_answer,
                "profile": str(profile),
                "asset": "pump-truth",
            }
        ],
        gateway=gw,
        status_period_s=5.0,
        will_refresh_s=0.5,
    )
    consumer = Consumer(MqttSettings(url=broker.url)).start("truth-consumer")
    env = {**os.environ, "FOREWARN_MQTT__URL": broker.url, "FOREWARN_CONFIG": os.devnull}
    proc = subprocess.Popen(
        [sys.executable, "-m", "forewarn", "gateway", "run", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: bool(_statuses(consumer, gw)), 30, "a first status")
        first = _statuses(consumer, gw)[0]
        assert first.state == "online", f"first status {first.state}: {first.devices}"
        assert first.devices[0].last_poll is not None
        # Let it publish for a while (several will renewals), then kill it.
        _wait(
            lambda: _statuses(consumer, gw)[-1].metrics["samples_published"] >= 20,
            30,
            "samples to be published",
        )
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _wait(lambda: _statuses(consumer, gw)[-1].state == "offline", 15, "the last will")
    finally:
        if proc.poll() is None:
            proc.kill()
        consumer.close()
    seen = _statuses(consumer, gw)
    will = seen[-1]
    live = [s for s in seen if s.state != "offline"]
    assert will.ts > first.ts, "the will is newer than the first status, not the connect"
    assert will.metrics["samples_published"] >= 20, will.metrics
    # The first will is built before the first connect (0); a renewed one says 1, since
    # renewals are not counted as connections.
    assert will.metrics["uplink_connects"] == 1 == live[-1].metrics["uplink_connects"]
    before = [s.metrics["samples_published"] for s in live if s.ts <= will.ts]
    assert will.metrics["samples_published"] >= max(before)
    assert will.devices and will.devices[0].last_poll is not None
    assert will.devices[0].last_poll > first.ts
