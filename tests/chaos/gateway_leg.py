"""The Modbus leg of the chaos run: a real-time simulated site polled by a real gateway
whose WAN link the test cuts for minutes while the rest of the pipeline is being broken.

The gateway reaches the broker through ``WanLink``, a TCP relay standing in for the site's
uplink. A cut is a blackhole, as a failed WAN link is: nothing is forwarded either way and
no reset is sent, so the gateway learns of it only from its MQTT keepalive, keeps polling,
and its reconnect attempts get no answer. Connections opened during the cut are dropped at
restore instead of being delivered late (a lost SYN stays lost). Killing the gateway
instead would lose polls by design and test nothing.

What arrived is recorded by an independent QoS 1 subscriber with a persistent session
(the gateway tests' ``Consumer``); what was polled is the gateway's own ``samples_polled``
counter in the status it publishes when it stops.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from forewarn.contract import GatewayStatus, decode
from forewarn.settings import MqttSettings
from forewarn.testing import free_port
from gateway.devicemap import config_from_map
from tests.integration.gateway.gateway_kit import Consumer
from tests.pipeline_support import Pipeline

SITE = "gw23"
PREFIX = "g23-"


def _scenario() -> str:
    # No random stops or sensor faults: every poll of this leg should yield a full sample.
    return f"""
name: chaosgw
seed: 23
duration: 2h
sample_period_s: 1
stops_per_asset_day: 0
sensor_faults: {{dropouts_per_asset_day: 0, stuck_per_asset_day: 0}}
sites:
  - {{id: {SITE}, lat: 50.0, lon: 8.0}}
fleet:
  - {{site: {SITE}, asset_class: centrifugal_pump, count: 2, prefix: {PREFIX}}}
"""


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv, close() does not
    sock.close()


class WanLink:
    """TCP relay to ``upstream`` that can be cut (blackholed) and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._up = True
        self._closing = False
        self._live: list[tuple[socket.socket, socket.socket]] = []
        self._dead: list[socket.socket] = []  # silent since the cut, closed at restore
        self.refused_while_cut = 0
        threading.Thread(target=self._accept, name="wan-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if not self._up:
                    self._dead.append(conn)  # accepted by the kernel, answered by nobody
                    self.refused_while_cut += 1
                    continue
            try:
                far = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(conn)  # the broker itself is down: the gateway sees a refusal
                continue
            far.settimeout(None)
            pair = (conn, far)
            with self._lock:
                self._live.append(pair)
            for src, dst in (pair, pair[::-1]):
                threading.Thread(target=self._pump, args=(pair, src, dst), daemon=True).start()

    def _pump(
        self, pair: tuple[socket.socket, socket.socket], src: socket.socket, dst: socket.socket
    ) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    silent = pair not in self._live
                if not silent:
                    dst.sendall(data)  # after the cut bytes vanish, as on a dead link
        except OSError:
            pass
        with self._lock:
            if pair in self._live:  # an end closed while the link was up: pass it on
                self._live.remove(pair)
                _close(pair[0])
                _close(pair[1])

    def cut(self) -> None:
        with self._lock:
            self._up = False
            for pair in self._live:
                self._dead.extend(pair)
            self._live.clear()

    def restore(self) -> None:
        """Back up; whatever was opened or in flight during the cut is gone."""
        with self._lock:
            self._up = True
            dead, self._dead = self._dead, []
        for sock in dead:
            _close(sock)

    def close(self) -> None:
        self._closing = True
        self.restore()
        with self._lock:
            live, self._live = self._live, []
        for a, b in live:
            _close(a)
            _close(b)
        self._listener.close()


@dataclass
class GatewayLeg:
    p: Pipeline
    link: WanLink
    consumer: Consumer
    cut_at: float = 0.0  # wall clock (epoch s), comparable with sample timestamps
    restored_at: float = 0.0
    lost_during_cut: str = ""  # the gateway's log between cut and restore
    statuses_at_restore: int = 0
    before_cut: set[tuple[str, datetime]] = field(default_factory=set)  # arrived while up
    alive_before_stop: bool = False
    stop_rc: int | None = None
    final: GatewayStatus | None = None

    @classmethod
    def start(cls, p: Pipeline, broker_url: str, logs: Path) -> GatewayLeg:
        """Simulated Modbus site, observer, WAN link and gateway; returns once data flows."""
        modbus_port = free_port()
        scenario = logs / "chaosgw.yaml"
        scenario.write_text(_scenario())
        device_map = logs / "gw-devices.json"
        p.background(
            "gwsim", "sim", "run", str(scenario), "--modbus", "--speed", "1",
            "--base-port", str(modbus_port), "--device-map", str(device_map),
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (device_map.exists() and device_map.stat().st_size):
            assert time.monotonic() < deadline and p.alive("gwsim"), p.tail("gwsim")
            time.sleep(0.2)
        settings = MqttSettings(url=broker_url)
        consumer = Consumer(settings, topic=f"forewarn/v1/{SITE}/+/telemetry")
        consumer.start("chaos-gw-observer")
        host, port = settings.host, settings.port
        link = WanLink((host, port))
        config = config_from_map(
            json.loads(device_map.read_text()),
            gateway=SITE,
            site=SITE,
            poll_period_s=1.0,
            buffer_path=str(logs / "gw-buffer.sqlite"),
        )
        config["mqtt"] = {"url": f"mqtt://127.0.0.1:{link.port}"}
        config["status_period_s"] = 5
        path = logs / "gw.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        p.start("gateway", "gateway", "run", str(path))
        p.wait_log("gateway", "uplink connected")
        leg = cls(p, link, consumer)
        deadline = time.monotonic() + 30
        while len(leg.consumer.samples()) < 4:  # both devices polled and published live
            assert time.monotonic() < deadline, p.tail("gateway")
            time.sleep(0.2)
        return leg

    def cut(self) -> None:
        self.link.cut()
        self.cut_at = time.time()
        self.before_cut = {(a, ts) for a, ts, _, _ in self.arrived()}
        self._mark = self.p.mark("gateway")

    def restore(self) -> None:
        self.lost_during_cut = self.p.text("gateway", self._mark)
        with self.consumer.lock:
            self.statuses_at_restore = len(self.consumer.statuses)
        self.link.restore()
        self.restored_at = time.time()

    def finish(self) -> None:
        """Wait for the replay, stop the gateway cleanly and collect its final status."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.consumer.lock:
                got = [decode(GatewayStatus, s) for s in self.consumer.statuses]
            after = got[self.statuses_at_restore :]
            if any(s.state != "offline" and s.metrics["buffer_samples"] == 0 for s in after):
                break  # reconnected and the buffer drained
            time.sleep(0.5)
        self.alive_before_stop = self.p.alive("gateway")
        with self.consumer.lock:
            seen = len(self.consumer.statuses)
        proc = self.p.procs["gateway"]
        proc.send_signal(signal.SIGTERM)
        self.stop_rc = proc.wait(60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.final is None:
            with self.consumer.lock:
                new = [decode(GatewayStatus, s) for s in self.consumer.statuses[seen:]]
            self.final = next((s for s in new if s.state == "offline"), None)
            time.sleep(0.2)

    def arrived(self) -> list[tuple[str, datetime, bool, frozenset[str]]]:
        """(asset, ts, historical, metrics) of every sample received, duplicates included."""
        with self.consumer.lock:
            return [
                (b.asset, s.ts, b.historical, frozenset(s.values))
                for b in self.consumer.batches
                for s in b.samples
            ]

    def close(self) -> None:
        self.consumer.close()
        self.link.close()
