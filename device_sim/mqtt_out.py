"""MQTT-native devices: each asset publishes v1 TelemetryBatch messages, QoS 1.

One paho client carries the whole fleet (thousands of TCP connections from one process
would measure the kernel, not the pipeline). Samples travel ``batch_samples`` to a
message, and assets flush in staggered turns (asset i on steps where k % B == i % B),
so the broker sees an even stream instead of a burst every B steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt

from device_sim.engine import Fleet, Frame
from forewarn import mqtt as fmqtt
from forewarn.contract import topics, utc, wire
from forewarn.settings import MqttSettings


class _ClassBuffer:
    def __init__(self, fleet: Fleet, cls: str, batch: int) -> None:
        g = fleet.groups[cls]
        self.cls = cls
        self.metrics = list(g.metrics)
        self.assets = [a.id for a in g.assets]
        self.topics = [topics.telemetry(a.site, a.id) for a in g.assets]
        n, m = g.n, len(g.metrics)
        self.values = np.full((batch, n, m), np.nan)
        self.online = np.zeros((batch, n), dtype=bool)
        self.last_flush = np.full(n, -1, dtype=np.int64)
        offset = sum(fleet.groups[c].n for c in list(fleet.groups)[: list(fleet.groups).index(cls)])
        phase = (np.arange(n) + offset) % batch
        self.by_phase = [np.flatnonzero(phase == p) for p in range(batch)]


def round6(block: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Round to 6 significant digits (finer than any simulated sensor's noise; keeps
    payloads short). Dividing an integer by an exact power of ten (or multiplying, for
    |x| >= 1e6) gives the double nearest the 6-digit decimal, so it prints short."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mag = np.floor(np.log10(np.abs(block)))
        exp = np.clip(np.where(np.isfinite(mag), 5 - mag, 0.0), -300, 300)  # subnormals: 0
        small = exp >= 0
        up = 10.0 ** np.abs(exp)
        scaled = np.round(np.where(small, block * up, block / up))
        out: npt.NDArray[np.float64] = np.where(small, scaled / up, scaled * up)
    return out


class Batcher:
    """Frames in, (topic, payload) out; pure, so it is tested without a broker."""

    def __init__(self, fleet: Fleet, batch_samples: int | None = None) -> None:
        self.batch = batch_samples or fleet.scenario.batch_samples
        self.buffers = [_ClassBuffer(fleet, cls, self.batch) for cls in fleet.groups]
        self.ts: list[str] = [""] * self.batch
        self.seq: dict[str, int] = {}
        self.k = -1

    def add(self, frame: Frame) -> Iterator[tuple[str, bytes, int]]:
        """Take a frame; yield (topic, payload, samples) of the assets whose turn it is."""
        slot = frame.k % self.batch
        self.ts[slot] = utc(frame.ts)
        self.k = frame.k
        for b in self.buffers:
            b.values[slot] = frame.values[b.cls]
            b.online[slot] = frame.online[b.cls]
            yield from self._flush(b, b.by_phase[slot])

    def drain(self) -> Iterator[tuple[str, bytes, int]]:
        """Everything not yet sent (call at the end of a run)."""
        for b in self.buffers:
            yield from self._flush(b, np.arange(len(b.assets)))

    def _flush(
        self, b: _ClassBuffer, idx: npt.NDArray[np.int64]
    ) -> Iterator[tuple[str, bytes, int]]:
        # This path is the simulator's MQTT ceiling (bench/sim_scale.py): the contract's
        # orjson writer, one call per message.
        k, batch = self.k, self.batch
        for i in idx.tolist():
            first = max(int(b.last_flush[i]) + 1, k - batch + 1, 0)
            b.last_flush[i] = k
            steps = [s for s in range(first, k + 1) if b.online[s % batch, i]]
            if not steps:
                continue
            block = round6(b.values[[s % batch for s in steps], i, :])
            whole: list[bool] = np.asarray(np.isfinite(block).all(axis=1)).tolist()
            samples = []
            for s, row, ok in zip(steps, block.tolist(), whole, strict=True):
                if ok:
                    values = dict(zip(b.metrics, row, strict=True))
                else:  # a sensor dropped out: leave its metric out of this sample
                    values = {m: v for m, v in zip(b.metrics, row, strict=True) if v == v}
                if values:
                    samples.append(wire.sample(self.ts[s % batch], values))
            if not samples:
                continue
            asset = b.assets[i]
            seq = self.seq.get(asset, 0)
            self.seq[asset] = seq + 1
            payload = wire.telemetry_envelope(
                asset, seq, wire.encode_samples(samples), asset_class=b.cls
            )
            yield b.topics[i], payload, len(samples)


@dataclass
class PublishStats:
    messages: int = 0
    samples: int = 0
    bytes: int = 0


class MqttFleet:
    """Publishes a fleet's frames to a broker; use as a frame sink of the runner."""

    def __init__(
        self,
        fleet: Fleet,
        settings: MqttSettings,
        *,
        batch_samples: int | None = None,
        qos: int = 1,
        max_inflight: int = 1000,
    ) -> None:
        self.batcher = Batcher(fleet, batch_samples)
        self.settings, self.qos = settings, qos
        self.stats = PublishStats()
        self.client = fmqtt.paho_client(
            settings,
            fmqtt.client_id(settings, f"sim-{fleet.scenario.name}"),
            max_inflight=max_inflight,
        )
        self.client.on_publish = self._on_publish
        self._acked = 0
        self._lock = threading.Lock()

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: object, properties: object
    ) -> None:
        with self._lock:
            self._acked += 1

    @property
    def acked(self) -> int:
        """Messages the broker acknowledged (PUBACK for QoS 1)."""
        with self._lock:
            return self._acked

    def start(self, timeout: float = 10.0) -> None:
        """Connect; raise ServiceUnavailable naming the broker when it is not there."""
        fmqtt.connect_paho(self.client, self.settings, timeout)

    def __call__(self, frame: Frame) -> None:
        for topic, payload, n in self.batcher.add(frame):
            self._publish(topic, payload, n)

    def _publish(self, topic: str, payload: bytes, n: int) -> None:
        self.client.publish(topic, payload, qos=self.qos)
        self.stats.messages += 1
        self.stats.samples += n
        self.stats.bytes += len(payload)

    def stop(self, timeout: float = 30.0) -> None:
        """Send what is buffered, wait until the broker acknowledged it, disconnect."""
        for topic, payload, n in self.batcher.drain():
            self._publish(topic, payload, n)
        deadline = time.monotonic() + timeout
        while self.acked < self.stats.messages and time.monotonic() < deadline:
            time.sleep(0.01)
        self.client.disconnect()
        self.client.loop_stop()
