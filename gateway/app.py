"""The gateway process: pollers -> batcher -> durable buffer -> uplink, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

from gateway.batcher import Batcher
from gateway.bridge import Bridge
from gateway.buffer import Buffer
from gateway.config import GatewayConfig
from gateway.health import Health
from gateway.poller import Poller
from gateway.uplink import Uplink

if TYPE_CHECKING:
    from gateway.opcua.source import OpcuaSource

log = logging.getLogger("forewarn.gateway")


async def _finish(tasks: list[asyncio.Task[None]], wait_s: float = 0.0) -> None:
    """Let tasks end on their own for ``wait_s``, then cancel, bounded, repeating the
    cancel if one was swallowed (Python 3.11's ``wait_for`` can do that)."""
    pending = {t for t in tasks if not t.done()}
    if pending and wait_s > 0:
        _, pending = await asyncio.wait(pending, timeout=wait_s)
    for _ in range(5):
        if not pending:
            return
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for t in pending:
        log.error("task %s did not stop", t.get_name())


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.health = Health(config.gateway, config.site)
        self.buffer = Buffer(
            config.buffer_path,
            max_batches=config.buffer_max_batches,
            synchronous=config.buffer_synchronous,
        )
        self.uplink = Uplink(
            config.mqtt,
            self.buffer,
            self.health,
            window=config.publish_window,
            status_period_s=config.status_period_s,
            ack_hold_s=config.ack_hold_s,
            will_refresh_s=config.will_refresh_s,
        )
        self.batcher = Batcher(
            self.buffer,
            gateway=config.gateway,
            site=config.site,
            max_samples=config.batch.max_samples,
            max_latency_s=config.batch.max_latency_s,
            is_connected=lambda: self.uplink.connected,
            on_flush=self.uplink.wake,
        )
        self.health.buffer_write_errors = lambda: self.batcher.write_errors
        self.health.samples_polled = lambda: self.batcher.samples_added
        self.pollers = [
            Poller(d, self.health.device(d.id, d.asset), self._sample) for d in config.devices
        ]
        self.opcua: list[OpcuaSource] = []
        if config.opcua:  # asyncua is imported only by gateways that read OPC UA
            from gateway.opcua.source import OpcuaSource

            self.opcua = [
                OpcuaSource(s, self.health.device(s.id, s.first_asset), self._sample)
                for s in config.opcua
            ]
        self.bridges = [
            Bridge(
                spec,
                self.buffer,
                self.health.device(spec.id, spec.id),
                gateway=config.gateway,
                site=config.site,
                is_connected=lambda: self.uplink.connected,
                on_flush=self.uplink.wake,
            )
            for spec in config.bridges
        ]
        self._stop = asyncio.Event()

    def _sample(
        self, asset: str, ts: object, values: dict[str, float], asset_class: str | None
    ) -> None:
        self.batcher.add(asset, ts, values, asset_class)  # type: ignore[arg-type]

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Run until ``stop()`` (or SIGINT/SIGTERM when installed by the CLI)."""
        uplink = asyncio.create_task(self.uplink.run(), name="uplink")
        batcher = asyncio.create_task(self.batcher.run(), name="batcher")
        polls = [asyncio.create_task(p.run(), name=f"poll-{p.device.id}") for p in self.pollers]
        polls += [asyncio.create_task(b.run(), name=f"bridge-{b.spec.id}") for b in self.bridges]
        polls += [asyncio.create_task(o.run(), name=f"opcua-{o.server.id}") for o in self.opcua]
        log.info(
            "gateway %s (site %s): %d device(s), buffer %s",
            self.config.gateway,
            self.config.site,
            len(polls),
            self.config.buffer_path,
        )
        try:
            await self._stop.wait()
        finally:
            for p in self.pollers:
                p.stop()
            for b in self.bridges:
                b.stop()
            for o in self.opcua:
                o.stop()
            self.batcher.stop()
            await _finish([*polls, batcher])
            await self.batcher.flush(everything=True)  # polled data goes to disk, not lost
            await self.uplink.stop()
            await _finish([uplink], wait_s=10.0)
            self.buffer.close()

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stop)
