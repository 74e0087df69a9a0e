"""Read one OPC UA server for the gateway: subscribe (or poll), reconnect, report health.

Each server is its own task with its own session and backoff (0.5 s doubling to 30 s),
so a dead, slow or untrusted server costs only its own task. Samples go to the same
batcher, buffer and uplink as Modbus polls: OPC UA is another source, not a second
gateway.

Subscribe mode (default) asks the server to sample every node at ``sampling_interval_ms``
and to queue ``queue_size`` changes per node between publishes; each change is a sample at
its source timestamp, so the server's own sampling times travel upstream. Poll mode (or a
server that refuses subscriptions) reads every node each ``poll_period_s`` and stamps the
sample with the poll time, like a Modbus poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from asyncua import Client, Node, ua

from gateway.health import DeviceHealth
from gateway.opcua.config import OpcuaServer
from gateway.opcua.session import Bound, OpcuaFailure, bind, close, connect, describe, number

log = logging.getLogger("forewarn.gateway.opcua")

SampleSink = Callable[[str, datetime, dict[str, float], str | None], None]
_Key = tuple[str, datetime]


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class OpcuaSource:
    """The task of one OPC UA server."""

    def __init__(
        self,
        server: OpcuaServer,
        health: DeviceHealth,
        sink: SampleSink,
        *,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.server = server
        self.health = health
        self.sink = sink
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.stopping = False
        self.mode = server.mode  # may fall back to "poll"
        self.problems: list[str] = []
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._by_node: dict[Any, list[Bound]] = {}
        self._last: dict[tuple[str, str], float] = {}
        self._pending: dict[_Key, dict[str, float]] = defaultdict(dict)
        self._pending_points = 0
        self._bad_count = 0
        self._bad_reason: str | None = None
        self._flush_scheduled = False

    def stop(self) -> None:
        self.stopping = True
        self._stop.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def run(self) -> None:
        backoff = self.backoff_min_s
        while not self.stopping:
            try:
                client = await connect(self.server)
            except OpcuaFailure as exc:
                self.health.down(str(exc))
                await self._pause(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            self.health.reconnects += 1
            got_data = False
            try:
                got_data = await self._session(client)
            except OpcuaFailure as exc:
                self.health.down(str(exc))
            except (OSError, TimeoutError, ua.UaError) as exc:
                self.health.down(f"connection to {self.server.url} lost: {describe(exc)}")
            except Exception as exc:  # a library surprise must not end this server's task
                log.exception("%s: unexpected error", self.server.id)
                self.health.down(f"unexpected {describe(exc)}")
            finally:
                await close(client)
            if got_data:
                backoff = self.backoff_min_s
            if not self.stopping:
                await self._pause(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)

    async def _session(self, client: Client) -> bool:
        """Read until the connection is lost or we stop; True if any value arrived."""
        self._lost.clear()

        async def lost(exc: Exception) -> None:
            self._lost_reason = describe(exc)
            self._lost.set()

        client.connection_lost_callback = lost
        bound, self.problems = await bind(client, self.server.assets)
        if not bound:
            raise OpcuaFailure(f"no node of the node map could be read: {self.problems[0]}")
        self._by_node = defaultdict(list)
        for b in bound:
            self._by_node[b.node.nodeid].append(b)
        # Online only once values can flow: after the monitored items exist (subscribe),
        # or now (poll); a change before that would arrive only as the latest value.
        if self.mode == "subscribe":
            try:
                await self._subscribe(client, bound)
            except ua.UaStatusCodeError as exc:
                log.warning("%s: subscriptions refused (%s), polling", self.server.id, exc)
                self.mode = "poll"
                self.problems.append(f"subscriptions refused ({describe(exc)}): polling instead")
                self._set_state()
        points_before = self.health.points
        if self.mode == "poll":
            self._set_state()
            await self._poll(client, bound)
        else:
            waiters = [
                asyncio.ensure_future(self._stop.wait()),
                asyncio.ensure_future(self._lost.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            self._flush()
        if self._lost.is_set() and not self.stopping:
            raise OpcuaFailure(f"connection to {self.server.url} lost: {self._lost_reason}")
        return self.health.points > points_before

    def _set_state(self) -> None:
        if self.problems:
            self.health.state = "degraded"
            self.health.last_error = self.problems[0]
        else:
            self.health.state = "online"
            self.health.last_error = None

    async def _subscribe(self, client: Client, bound: list[Bound]) -> None:
        s = self.server
        sub = await client.create_subscription(s.publishing_interval_ms, self)
        nodes = list({b.node.nodeid: b.node for b in bound}.values())
        results = await sub.create_monitored_items(self._requests(nodes, with_filter=True))
        if any(isinstance(r, ua.StatusCode) and "Filter" in r.name for r in results):
            # A server without data change filters: plain monitoring (changes only).
            await sub.delete()
            sub = await client.create_subscription(s.publishing_interval_ms, self)
            results = await sub.create_monitored_items(self._requests(nodes, with_filter=False))
            self.problems.append("server refused the timestamp trigger: unchanged values not sent")
        for node, res in zip(nodes, results, strict=True):
            if isinstance(res, ua.StatusCode):
                for b in self._by_node.pop(node.nodeid, []):
                    self.problems.append(
                        f"{b.asset.asset} {b.spec.metric} ({b.spec.address}): {res.name}"
                    )
        if not self._by_node:
            raise OpcuaFailure(f"no node could be monitored: {self.problems[0]}")
        self._set_state()

    def _requests(
        self, nodes: list[Node], with_filter: bool
    ) -> list[ua.MonitoredItemCreateRequest]:
        """Monitored items sampled at ``sampling_interval_ms`` with a server-side queue.
        The filter asks for a notification on every new source timestamp, not only on a
        changed value, so a steady reading is still a sample every time it is measured."""
        out = []
        for handle, node in enumerate(nodes, start=1):
            params = ua.MonitoringParameters()
            params.ClientHandle = ua.UInt32(handle)
            params.SamplingInterval = ua.Double(self.server.sampling_interval_ms)
            params.QueueSize = ua.UInt32(self.server.queue_size)
            params.DiscardOldest = True
            if with_filter:
                params.Filter = ua.DataChangeFilter(
                    Trigger=ua.DataChangeTrigger.StatusValueTimestamp
                )
            item = ua.ReadValueId()
            item.NodeId = node.nodeid
            item.AttributeId = ua.AttributeIds.Value
            req = ua.MonitoredItemCreateRequest()
            req.ItemToMonitor = item
            req.MonitoringMode = ua.MonitoringMode.Reporting
            req.RequestedParameters = params
            out.append(req)
        return out

    # asyncua subscription handler (called in order, one task per notification)
    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        dv = data.monitored_item.Value
        status = getattr(dv, "StatusCode", None)
        ts = _aware(dv.SourceTimestamp) or _aware(dv.ServerTimestamp) or datetime.now(UTC)
        for b in self._by_node.get(node.nodeid, []):
            if status is not None and not status.is_good():
                self._bad(b, status.name)
                continue
            self._add(b, ts, val)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def status_change_notification(self, status: Any) -> None:
        self._lost_reason = f"subscription status {status.Status}"

    def _bad(self, b: Bound, why: str) -> None:
        """A value that is not telemetry (bad/uncertain status, a string): kept as the
        reason, so the server shows ``degraded`` like a Modbus device with a bad read."""
        self._bad_count += 1
        self._bad_reason = f"{b.asset.asset} {b.spec.metric} ({b.spec.address}): {why}"

    def _add(self, b: Bound, ts: datetime, raw: Any) -> None:
        value = number(raw)
        if value is None:
            self._bad(b, f"not a number: {type(raw).__name__}")
            return
        value = b.spec.engineering(value)
        key = (b.asset.asset, b.spec.metric)
        if b.spec.deadband > 0:
            last = self._last.get(key)
            if last is not None and abs(value - last) < b.spec.deadband:
                self._pending_points += 1  # read, but inside the deadband: not sent
                return
        self._last[key] = value
        self._pending[(b.asset.asset, ts)][b.spec.metric] = value
        self._pending_points += 1

    def _flush(self) -> None:
        """Hand the pending samples to the batcher, oldest first per asset."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, defaultdict(dict)
        points, self._pending_points = self._pending_points, 0
        classes = {a.asset: a.asset_class for a in self.server.assets}
        for asset, ts in sorted(pending):
            self.sink(asset, ts, pending[(asset, ts)], classes.get(asset))
        bad, self._bad_count = self._bad_count, 0
        error = self.problems[0] if self.problems else self._bad_reason if bad else None
        if error is None:
            if points:
                self.health.ok(points)
        elif points:
            self.health.partial(points, error)
        elif bad:  # nothing but bad values: no data, yet the session is up
            self.health.partial(0, error)
            self.health.state = "degraded"

    async def _poll(self, client: Client, bound: list[Bound]) -> None:
        loop = asyncio.get_running_loop()
        period = self.server.poll_period_s
        nodes = [b.node for b in bound]
        next_tick = loop.time()
        while not self.stopping and not self._lost.is_set():
            ts = datetime.now(UTC)
            results = await asyncio.wait_for(
                client.read_attributes(nodes, ua.AttributeIds.Value), self.server.timeout_s
            )
            for b, dv in zip(bound, results, strict=True):
                if dv.StatusCode is not None and not dv.StatusCode.is_good():
                    self._bad(b, dv.StatusCode.name)
                    continue
                self._add(b, ts, dv.Value.Value if dv.Value is not None else None)
            self._flush()
            next_tick += period
            now = loop.time()
            if next_tick < now:  # overran: skip missed ticks, never burst to catch up
                self.health.overruns += 1
                next_tick = now + period - (now - next_tick) % period
            await self._pause(next_tick - now)
