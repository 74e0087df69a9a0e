"""Group polled samples per asset into batches with bounded latency.

Batching is not optional (one MQTT client moves ~10-20k messages/s here): a batch closes
when it holds ``max_samples`` samples or its oldest sample is ``max_latency_s`` old, and
all due batches go into the durable buffer in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from forewarn.contract import topics, wire
from gateway.buffer import Buffer, NewBatch

log = logging.getLogger("forewarn.gateway.batcher")


@dataclass
class _Open:
    topic: str
    asset_class: str | None
    samples: list[dict[str, Any]] = field(default_factory=list)
    since: float = 0.0


class Batcher:
    def __init__(
        self,
        buffer: Buffer,
        *,
        gateway: str,
        site: str,
        max_samples: int = 100,
        max_latency_s: float = 1.0,
        is_connected: Callable[[], bool] = lambda: True,
        on_flush: Callable[[], None] = lambda: None,
    ) -> None:
        self.buffer = buffer
        self.gateway = gateway
        self.site = site
        self.max_samples = max_samples
        self.max_latency_s = max_latency_s
        self._is_connected = is_connected
        self._on_flush = on_flush
        self._open: dict[str, _Open] = {}
        self._due = asyncio.Event()
        self.samples_added = 0
        self.stopping = False
        self.last_error: str | None = None
        self.write_errors = 0

    def stop(self) -> None:
        """End ``run`` (a flag, since 3.11's ``wait_for`` may swallow a cancel)."""
        self.stopping = True
        self._due.set()

    def add(
        self, asset: str, ts: datetime, values: dict[str, float], asset_class: str | None = None
    ) -> None:
        """Queue one sample (values must be finite numbers)."""
        batch = self._open.get(asset)
        if batch is None:
            batch = self._open[asset] = _Open(topics.telemetry(self.site, asset), asset_class)
        if not batch.samples:
            batch.since = time.monotonic()
        batch.samples.append(wire.sample(ts, dict(values)))  # a copy: the caller may reuse it
        self.samples_added += 1
        if len(batch.samples) >= self.max_samples:
            self._due.set()

    def _take(self, everything: bool) -> list[NewBatch]:
        now = time.monotonic()
        out = []
        for asset, b in self._open.items():
            if not b.samples:
                continue
            due = everything or now - b.since >= self.max_latency_s
            if not due and len(b.samples) < self.max_samples:
                continue
            # Full batches go now; a partial rest waits for its own deadline.
            take = len(b.samples) if due else len(b.samples) - len(b.samples) % self.max_samples
            for i in range(0, take, self.max_samples):
                chunk = b.samples[i : i + self.max_samples]
                out.append(
                    NewBatch(
                        topic=b.topic,
                        asset=asset,
                        samples=wire.encode_samples(chunk).decode(),
                        n_samples=len(chunk),
                        asset_class=b.asset_class,
                        gateway=self.gateway,
                    )
                )
            b.samples = b.samples[take:]
        return out

    async def flush(self, everything: bool = False) -> int:
        batches = self._take(everything)
        if batches:
            # Decided at write time: written while the broker is unreachable = historical.
            historical = not self._is_connected()
            try:
                await asyncio.to_thread(self.buffer.append, batches, historical=historical)
            except (sqlite3.Error, OSError) as exc:
                # The disk refused (full, read-only): keep the samples in memory, retry.
                self._restore(batches)
                self.last_error = f"buffer write failed: {exc}"
                self.write_errors += 1
                log.error("%s", self.last_error)
                return 0
            self.last_error = None
            self._on_flush()
        return len(batches)

    def _restore(self, batches: list[NewBatch]) -> None:
        """Put samples of a failed write back in front of newer ones, in order."""
        by_asset: dict[str, list[dict[str, Any]]] = {}
        for b in batches:
            by_asset.setdefault(b.asset, []).extend(wire.decode_samples(b.samples))
        for asset, samples in by_asset.items():
            self._open[asset].samples[:0] = samples

    def _next_deadline(self) -> float:
        opened = [b.since for b in self._open.values() if b.samples]
        if not opened:
            return self.max_latency_s
        return max(0.0, min(opened) + self.max_latency_s - time.monotonic())

    async def run(self) -> None:
        """Flush due batches until cancelled; the owner then calls ``flush(everything=True)``."""
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), self._next_deadline())
            self._due.clear()
            await self.flush()
            if self.last_error:  # the disk refused: do not spin, retry in a second
                await asyncio.sleep(1.0)
