"""Real parts for gateway tests (fixtures re-exported by conftest.py): Modbus servers that are not ours (pyModbusTCP), devices
that are dead or mute, a gateway running in its own thread, and an MQTT consumer with a
persistent session that de-duplicates what it receives."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from pyModbusTCP.server import DataBank, ModbusServer

from forewarn import mqtt
from forewarn.contract import TelemetryBatch, decode, topics
from forewarn.settings import MqttSettings
from forewarn.testing import free_port
from gateway import Gateway, load


@pytest.fixture
def modbus_server() -> Iterator[Callable[..., ModbusServer]]:
    """Start pyModbusTCP servers (another library's implementation) on free ports."""
    servers: list[ModbusServer] = []

    def start(**bank: Any) -> ModbusServer:
        srv = ModbusServer("127.0.0.1", free_port(), no_block=True, data_bank=DataBank(**bank))
        srv.start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
def mute_device() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def dead_port() -> int:
    """A port where nothing listens."""
    return free_port()


def write_profile(path: Path, points: list[dict[str, Any]], **device: Any) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "profile": path.stem,
                "vendor": "Test",
                "model": "T-1",
                "asset_class": "centrifugal_pump",
                "device": {"poll_period_s": 0.05, "timeout_s": 0.5, "retries": 0, **device},
                "points": points,
            },
            sort_keys=False,
        )
    )
    return path


PUMP_POINTS = [
    {"name": "speed", "kind": "input", "address": 0, "type": "float32", "metric": "speed_rpm"},
    {
        "name": "temp",
        "kind": "input",
        "address": 2,
        "type": "int16",
        "scale": 0.1,
        "metric": "temp_c",
    },
    {"name": "running", "kind": "discrete", "address": 0, "type": "bool", "metric": "running"},
]


def write_config(path: Path, devices: list[dict[str, Any]], **extra: Any) -> Path:
    data: dict[str, Any] = {
        "gateway": "gw-test",
        "site": "site-a",
        "batch": {"max_samples": 50, "max_latency_s": 0.2},
        "buffer": {"path": str(path.parent / "buffer.sqlite"), "synchronous": "NORMAL"},
        "status_period_s": 0.5,
        "devices": devices,
    }
    data.update(extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class GatewayThread:
    """A Gateway on its own event loop thread; records every sample it polled."""

    def __init__(self, config_path: Path, mqtt_settings: MqttSettings) -> None:
        self.config = load(config_path, mqtt_settings)
        self.produced: list[tuple[str, str]] = []  # (asset, ts) in poll order
        self.gateway: Gateway | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            gw = Gateway(self.config)
            add = gw.batcher.add

            def record(asset: str, ts: Any, values: dict[str, float], cls: Any = None) -> None:
                self.produced.append((asset, ts.isoformat()))
                add(asset, ts, values, cls)

            gw.batcher.add = record  # type: ignore[method-assign,assignment]
            self.gateway = gw
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await gw.run()

        asyncio.run(main())

    def start(self) -> GatewayThread:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        assert self._loop is not None and self.gateway is not None
        self._loop.call_soon_threadsafe(self.gateway.stop)
        self._thread.join(60)
        if self._thread.is_alive():
            faulthandler.dump_traceback(file=sys.stderr)
            for t in asyncio.all_tasks(self._loop):
                t.print_stack(file=sys.stderr)
        assert not self._thread.is_alive(), "gateway did not stop"


@dataclass
class Consumer:
    """Subscribes with a persistent session (QoS 1) so a broker restart loses nothing."""

    settings: MqttSettings
    topic: str = topics.TELEMETRY_FILTER
    batches: list[TelemetryBatch] = field(default_factory=list)
    statuses: list[bytes] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: paho.Client | None = None

    def start(self, ident: str) -> Consumer:
        c = mqtt.paho_client(self.settings, ident, clean_session=False)
        c.reconnect_delay_set(1, 2)

        def on_message(cl: Any, u: Any, msg: paho.MQTTMessage) -> None:
            with self.lock:
                if msg.topic.endswith("/telemetry"):
                    self.batches.append(decode(TelemetryBatch, bytes(msg.payload)))
                    self.topics.append(msg.topic)
                else:
                    self.statuses.append(bytes(msg.payload))

        c.on_message = on_message
        c.on_connect = lambda cl, u, f, rc, p=None: cl.subscribe(
            [(self.topic, 1), (topics.STATUS_FILTER, 1)]
        )
        mqtt.connect_paho(c, self.settings)
        self.client = c
        time.sleep(0.2)
        return self

    def samples(self) -> list[tuple[str, str, bool]]:
        """(asset, ts, historical) in arrival order, duplicates included."""
        with self.lock:
            return [
                (b.asset, s.ts.isoformat(), b.historical) for b in self.batches for s in b.samples
            ]

    def wait_for(self, expected: set[tuple[str, str]], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expected <= {(a, t) for a, t, _ in self.samples()}:
                return
            time.sleep(0.1)

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.disconnect()
                self.client.loop_stop()


@pytest.fixture
def consumer_factory() -> Iterator[Callable[[MqttSettings, str], Consumer]]:
    made: list[Consumer] = []

    def make(settings: MqttSettings, ident: str) -> Consumer:
        c = Consumer(settings).start(ident)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def gateway_factory() -> Iterator[Callable[[Path, MqttSettings], GatewayThread]]:
    running: list[GatewayThread] = []

    def make(config_path: Path, settings: MqttSettings) -> GatewayThread:
        g = GatewayThread(config_path, settings).start()
        running.append(g)
        return g

    yield make
    for g in running:
        if g._thread.is_alive():
            g.stop()
