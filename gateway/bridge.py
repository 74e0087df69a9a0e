"""Bridge MQTT-native devices on a local broker onto the upstream broker, through the same
durable buffer as polled data.

A local message is acknowledged (manual PUBACK, paho) only after its samples are committed
to the buffer, and the local session is persistent, so neither a gateway restart nor an
upstream outage loses a sample. Payloads are validated against the v1 contract; a bad one
is counted against the bridge with its reason (it could not be republished under our
site anyway) and acknowledged so it does not block the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho

from forewarn import mqtt
from forewarn.contract import TelemetryBatch, decode, topics, wire
from forewarn.errors import ContractError, ForewarnError
from forewarn.settings import MqttSettings
from gateway.buffer import Buffer, NewBatch
from gateway.health import DeviceHealth

log = logging.getLogger("forewarn.gateway.bridge")


@dataclass(frozen=True)
class BridgeSpec:
    id: str
    settings: MqttSettings
    topic: str


class Bridge:
    def __init__(
        self,
        spec: BridgeSpec,
        buffer: Buffer,
        health: DeviceHealth,
        *,
        gateway: str,
        site: str,
        is_connected: Any,
        on_flush: Any,
    ) -> None:
        self.spec = spec
        self.buffer = buffer
        self.health = health
        self.gateway = gateway
        self.site = site
        self._is_connected = is_connected
        self._on_flush = on_flush
        self.stopping = False
        self.rejected = 0
        self.last_rejection: str | None = None

    def stop(self) -> None:
        self.stopping = True

    async def run(self) -> None:
        delay = 0.5
        while not self.stopping:
            try:
                await self._session()
                delay = 0.5
            except ForewarnError as exc:
                self.health.down(str(exc))
            except Exception as exc:  # e.g. the buffer's disk: retry, never end the bridge
                log.exception("bridge %s: unexpected error", self.spec.id)
                self.health.down(f"{type(exc).__name__}: {exc}")
            if self.stopping:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[paho.MQTTMessage | None] = asyncio.Queue()
        s = self.spec

        def on_message(c: Any, u: Any, msg: paho.MQTTMessage) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, msg)

        def on_connect(c: Any, u: Any, f: Any, rc: Any, p: Any = None) -> None:
            c.subscribe(s.topic, qos=1)

        def on_disconnect(c: Any, u: Any, f: Any, rc: Any, p: Any = None) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, None)

        ident = f"{s.settings.client_id_prefix}-gw-{self.gateway}-bridge-{s.id}"
        client = mqtt.paho_client(
            s.settings, ident, clean_session=False, manual_ack=True, reconnect=False
        )
        client.on_message = on_message
        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        await asyncio.to_thread(mqtt.connect_paho, client, s.settings)
        self.health.reconnects += 1
        self.health.state = "online"
        self.health.last_error = None
        try:
            while not self.stopping:
                try:
                    msg = await asyncio.wait_for(inbox.get(), 0.5)
                except TimeoutError:
                    continue
                if msg is None:
                    self.health.down(f"local broker {s.settings.url} connection lost")
                    return
                await self._take(msg)
                client.ack(msg.mid, msg.qos)
        finally:
            client.on_disconnect = None
            with contextlib.suppress(Exception):
                client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    async def _take(self, msg: paho.MQTTMessage) -> None:
        try:
            batch = decode(TelemetryBatch, bytes(msg.payload))
        except ContractError as exc:
            self.rejected += 1
            self.last_rejection = f"{msg.topic}: {exc}"
            self.health.partial(0, self.last_rejection)
            self.health.state = "degraded"
            log.warning("bridge %s: refused %s: %s", self.spec.id, msg.topic, exc)
            return
        samples = wire.encode_samples([wire.sample(x.ts, x.values) for x in batch.samples])
        new = NewBatch(
            topic=topics.telemetry(self.site, batch.asset),
            asset=batch.asset,
            samples=samples.decode(),
            n_samples=len(batch.samples),
            asset_class=batch.asset_class,
            gateway=self.gateway,
        )
        historical = batch.historical or not self._is_connected()
        await asyncio.to_thread(self.buffer.append, [new], historical=historical)
        self._on_flush()
        self.health.ok(sum(len(x.values) for x in batch.samples))
        if self.rejected:  # a vendor's broken payloads stay visible in the status
            self.health.last_error = (
                f"{self.rejected} payload(s) refused, last {self.last_rejection}"
            )
