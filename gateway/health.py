"""Per-device health and gateway metrics, turned into the retained GatewayStatus message.

A device that stays offline is itself a condition the rest of the pipeline acts on, so
its state and last error travel in the status message together with the counters an
operator needs (points polled, errors per device, buffer depth and drops, publish latency).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from forewarn.contract import DeviceStatus, GatewayStatus

State = Literal["online", "degraded", "offline"]
log = logging.getLogger("forewarn.gateway")


@dataclass
class DeviceHealth:
    device: str
    asset: str
    state: State = "offline"
    last_error: str | None = "not polled yet"
    last_poll: datetime | None = None
    polls: int = 0
    polls_ok: int = 0
    points: int = 0
    errors: int = 0
    reconnects: int = 0
    overruns: int = 0
    poll_s_last: float = 0.0  # duration of the last poll, and totals for a mean (/metrics)
    poll_s_sum: float = 0.0
    polls_timed: int = 0

    def __setattr__(self, name: str, value: object) -> None:
        """Log every state transition here, whichever code path makes it (pollers and
        bridges set ``state`` directly too): operators grep logs, not the status topic."""
        old = self.__dict__.get("state") if name == "state" else None
        super().__setattr__(name, value)
        if old is not None and old != value:
            level = logging.INFO if value == "online" else logging.WARNING
            why = f": {self.last_error}" if value != "online" and self.last_error else ""
            log.log(level, "device %s (asset %s) %s -> %s%s", self.device, self.asset, old,
                    value, why)  # fmt: skip

    def timed(self, seconds: float) -> None:
        self.poll_s_last = seconds
        self.poll_s_sum += seconds
        self.polls_timed += 1

    def ok(self, points: int) -> None:
        self.polls += 1
        self.polls_ok += 1
        self.points += points
        self.state = "online"
        self.last_error = None
        self.last_poll = datetime.now(UTC)

    def partial(self, points: int, error: str) -> None:
        """Some reads failed (exception code, wrong length, garbage): data, but not all."""
        self.polls += 1
        self.points += points
        self.errors += 1
        self.last_error = error
        self.state = "degraded" if points else self.state
        if points:
            self.last_poll = datetime.now(UTC)

    def down(self, error: str) -> None:
        """No connection or no answer at all."""
        self.errors += 1
        self.last_error = error
        self.state = "offline"

    def status(self) -> DeviceStatus:
        return DeviceStatus(
            device=self.device,
            asset=self.asset,
            state=self.state,
            last_error=(self.last_error or "")[:500] or None,
            last_poll=self.last_poll,
        )


@dataclass
class UplinkHealth:
    connected: bool = False
    last_error: str | None = None
    connects: int = 0
    batches_published: int = 0
    samples_published: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def acked(self, samples: int, latency_s: float) -> None:
        self.batches_published += 1
        self.samples_published += samples
        if len(self.latencies_ms) < 10_000:
            self.latencies_ms.append(latency_s * 1000.0)

    def take_latency(self) -> dict[str, float]:
        """Latency (buffer write to PUBACK) since the last status; then start over."""
        lat = sorted(self.latencies_ms)
        self.latencies_ms = []
        if not lat:
            return {}
        return {
            "publish_latency_ms_p50": round(lat[len(lat) // 2], 2),
            "publish_latency_ms_max": round(lat[-1], 2),
        }


@dataclass
class Health:
    gateway: str
    site: str
    devices: dict[str, DeviceHealth] = field(default_factory=dict)
    uplink: UplinkHealth = field(default_factory=UplinkHealth)
    started: float = field(default_factory=time.monotonic)
    buffer_write_errors: Callable[[], int] = lambda: 0
    samples_polled: Callable[[], int] = lambda: 0

    def device(self, device: str, asset: str) -> DeviceHealth:
        return self.devices.setdefault(device, DeviceHealth(device, asset))

    def all_tried(self) -> bool:
        """Every device has had a first poll (or bridge connection), good or bad."""
        return all(d.polls or d.errors or d.state != "offline" for d in self.devices.values())

    def state(self) -> State:
        if all(d.state == "online" for d in self.devices.values()):
            return "online"
        return "degraded"

    def snapshot(
        self,
        *,
        buffer_depth: tuple[int, int] = (0, 0),
        dropped: tuple[int, int] = (0, 0),
        state: State | None = None,
        keep_latency: bool = False,
    ) -> GatewayStatus:
        metrics: dict[str, float] = {
            "uptime_s": round(time.monotonic() - self.started, 1),
            "points_polled": float(sum(d.points for d in self.devices.values())),
            "polls": float(sum(d.polls for d in self.devices.values())),
            # Samples (one timestamp of one asset) handed to the buffer: what must arrive.
            "samples_polled": float(self.samples_polled()),
            "buffer_batches": float(buffer_depth[0]),
            "buffer_samples": float(buffer_depth[1]),
            "buffer_dropped_batches": float(dropped[0]),
            "buffer_dropped_samples": float(dropped[1]),
            "batches_published": float(self.uplink.batches_published),
            "samples_published": float(self.uplink.samples_published),
            "uplink_connects": float(self.uplink.connects),
            "buffer_write_errors": float(self.buffer_write_errors()),
        }
        for d in self.devices.values():
            metrics[f"errors.{d.device}"] = float(d.errors)
            metrics[f"points.{d.device}"] = float(d.points)
        if not keep_latency:
            metrics.update(self.uplink.take_latency())
        return GatewayStatus(
            gateway=self.gateway,
            site=self.site,
            state=state or self.state(),
            ts=datetime.now(UTC),
            devices=[d.status() for d in self.devices.values()],
            metrics=metrics,
        )
