"""The MQTT side: drain the buffer to the broker in order, QoS 1, hold on PUBACK.

Each connection is a fresh paho client with paho's own reconnect switched off: after a
drop, the next connection resends everything not acknowledged, oldest first, straight from
the buffer, so there is one source of truth and order is kept. Acknowledged batches stay
held for ``ack_hold_s`` and are resent after an unplanned reconnect too, since a broker
killed before its next save loses what it acknowledged (gateway.buffer).

The retained status is published once every device has been polled (so the first one
does not say ``degraded`` for devices nobody has asked yet) and periodically. The last
will says ``offline``; MQTT fixes a will at connect, so the uplink renews it, with fresh
figures and ``ts``, by a planned reconnect every ``will_refresh_s`` while nothing is in
flight: the will's ``ts`` is when the gateway was last known alive, at most
``will_refresh_s`` before it vanished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from forewarn import mqtt
from forewarn.contract import GatewayStatus, encode, topics
from forewarn.errors import ForewarnError
from forewarn.settings import MqttSettings
from gateway.buffer import Buffer, Pending
from gateway.health import Health

log = logging.getLogger("forewarn.gateway.uplink")


class Uplink:
    def __init__(
        self,
        settings: MqttSettings,
        buffer: Buffer,
        health: Health,
        *,
        window: int = 100,
        status_period_s: float = 10.0,
        backoff_max_s: float = 10.0,
        ack_hold_s: float = 120.0,
        will_refresh_s: float = 60.0,
    ) -> None:
        self.settings = settings
        self.buffer = buffer
        self.health = health
        self.window = window
        self.status_period_s = status_period_s
        self.backoff_max_s = backoff_max_s
        self.ack_hold_s = ack_hold_s
        self.will_refresh_s = will_refresh_s
        self._planned = False  # the last session ended to renew the will, not by a fault
        self._next_status = 0.0
        self.status_topic = topics.gateway_status(health.site, health.gateway)
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self._client: paho.Client | None = None
        self._inflight: dict[int, Pending] = {}
        self._done: list[int] = []

    @property
    def connected(self) -> bool:
        return self.health.uplink.connected

    def wake(self) -> None:
        """New data is in the buffer."""
        self._wake.set()

    def status(self, state: str | None = None, *, will: bool = False) -> GatewayStatus:
        status = self.health.snapshot(
            buffer_depth=self.buffer.depth(),
            dropped=self.buffer.dropped(),
            state=state,  # type: ignore[arg-type]
            keep_latency=will,  # a will must not eat the next status's latency figures
        )
        # Acknowledged batches kept against a broker crash (resent after a reconnect).
        status.metrics["buffer_held_batches"] = float(self.buffer.held())
        return status

    async def run(self) -> None:
        delay = 0.2
        while not self._stopping:
            try:
                await self._session()
                delay = 0.2
                if self._planned:
                    continue  # renewing the will: reconnect at once
            except ForewarnError as exc:
                self._planned = False
                self.health.uplink.last_error = str(exc)
                log.warning("uplink: %s", exc)
            except Exception as exc:  # e.g. the buffer's disk: retry, never end the uplink
                self._planned = False
                self.health.uplink.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("uplink: unexpected error")
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
            delay = min(delay * 2, self.backoff_max_s)

    async def stop(self, drain_s: float = 3.0, timeout: float = 3.0) -> None:
        """Drain the buffer for up to ``drain_s``, publish ``offline``, then close.

        A clean disconnect sends no will, so ``offline`` is published explicitly.
        """
        deadline = time.monotonic() + drain_s
        while self.connected and time.monotonic() < deadline:
            # (a will renewal in progress keeps "connected": wait for its new client)
            if not self._inflight and self.buffer.depth()[0] == 0 and self._client is not None:
                break
            await asyncio.sleep(0.05)
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        client = self._client
        if client is not None and self.connected:
            offline = self.status("offline")
            info = client.publish(self.status_topic, encode(offline), qos=1, retain=True)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(info.wait_for_publish, timeout)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        lost = asyncio.Event()
        will = encode(await asyncio.to_thread(self.status, "offline", will=True))
        renewing, self._planned = self._planned, False

        def on_publish(c: Any, u: Any, mid: int, rc: Any, props: Any) -> None:
            loop.call_soon_threadsafe(self._acked, mid)

        def on_disconnect(c: Any, u: Any, flags: Any, rc: Any, props: Any = None) -> None:
            loop.call_soon_threadsafe(self._lost, lost, str(rc))

        ident = f"{self.settings.client_id_prefix}-gw-{self.health.gateway}"
        client = mqtt.paho_client(
            self.settings,
            ident,
            will=(self.status_topic, will, 1, True),
            max_inflight=self.window,
            reconnect=False,
        )
        client.on_publish = on_publish
        client.on_disconnect = on_disconnect
        try:
            await asyncio.to_thread(mqtt.connect_paho, client, self.settings)
        except BaseException:
            self.health.uplink.connected = False
            raise
        if not renewing:
            # A new connection after a fault: the broker may have died and lost what it
            # acknowledged since its last save, so the held batches go again.
            resend = await asyncio.to_thread(self.buffer.release_held, self.ack_hold_s)
            if resend:
                log.info("uplink: resending %d acknowledged batch(es) held", resend)
        self._client = client
        self._inflight.clear()
        self._done.clear()
        self.health.uplink.connected = True
        self.health.uplink.last_error = None
        if renewing:
            log.debug("uplink: last will renewed")
        else:  # connects counts real (re)connections, not will renewals
            self.health.uplink.connects += 1
            log.info("uplink connected to %s", self.settings.url)
        try:
            await self._pump(client, lost, renewing)
        finally:
            # A planned renewal keeps "connected": batches polled meanwhile are live.
            self.health.uplink.connected = self._planned
            self._client = None
            client.on_disconnect = None
            with contextlib.suppress(Exception):
                client.disconnect()
            await asyncio.to_thread(client.loop_stop)
            if self._done:
                await asyncio.to_thread(self.buffer.ack, list(self._done), self.ack_hold_s)
                self._done.clear()
            self._inflight.clear()
            if not self._planned:
                # Whatever is left will be replayed from the buffer: historical by contract.
                await asyncio.to_thread(self.buffer.mark_historical)

    def _lost(self, lost: asyncio.Event, reason: str) -> None:
        if not lost.is_set():
            self.health.uplink.last_error = f"broker connection lost: {reason}"
            log.warning("uplink: broker connection lost (%s)", reason)
        lost.set()
        self._wake.set()

    def _acked(self, mid: int) -> None:
        row = self._inflight.pop(mid, None)
        if row is None:
            return  # a status message
        self._done.append(row.id)
        self.health.uplink.acked(row.n_samples, time.time() - row.created)
        self._wake.set()

    async def _pump(self, client: paho.Client, lost: asyncio.Event, renewing: bool) -> None:
        last_id = 0
        # After a fault the status goes at once; a will renewal keeps the period.
        next_status = self._next_status if renewing else 0.0
        started = time.monotonic()
        first_status = not renewing
        publish: Callable[..., paho.MQTTMessageInfo] = client.publish
        while not lost.is_set() and not self._stopping:
            self._wake.clear()
            if self._done:
                done, self._done = self._done, []
                await asyncio.to_thread(self.buffer.ack, done, self.ack_hold_s)
            room = self.window - len(self._inflight)
            if room > 0:
                rows = await asyncio.to_thread(self.buffer.peek, last_id, room)
                for row in rows:
                    info = publish(row.topic, row.payload(), qos=1)
                    if info.rc != paho.MQTT_ERR_SUCCESS:
                        # paho may close the socket (keepalive) before its on_disconnect
                        # reaches us: say so here, or the loss goes unlogged.
                        self._lost(lost, f"publish refused: {paho.error_string(info.rc)}")
                        break
                    self._inflight[info.mid] = row
                    last_id = row.id
            now = time.monotonic()
            # The first status waits for every device's first poll (at most one period).
            polled = not first_status or self.health.all_tried()
            if now >= next_status and (polled or now >= started + self.status_period_s):
                publish(self.status_topic, encode(self.status()), qos=1, retain=True)
                next_status = self._next_status = now + self.status_period_s
                first_status = False
                await asyncio.to_thread(self.buffer.purge_held, self.ack_hold_s)
            if lost.is_set() or self._stopping:
                break
            if now >= started + self.will_refresh_s and not self._inflight and not first_status:
                self._planned = True  # renew the will (and its figures) by reconnecting
                break
            wait = max(0.01, next_status - now) if polled else 0.05
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
