"""Sparkplug B edge nodes: each site of the fleet is one edge node, each asset a device.

The Sparkplug counterpart of ``mqtt_out``: one MQTT session per edge node (the broker's
last will is the node's NDEATH, so one session cannot stand for several nodes), group id =
site (ingest's default mapping), device id = asset id. Births declare every metric with an
alias; DDATA then carries aliases and per-metric timestamps, ``batch_samples`` readings to a
message, assets flushing in staggered turns like ``mqtt_out``. An NCMD ``Node Control/
Rebirth`` is answered with fresh births, as the specification asks.

Data goes out at QoS 1 (the specification says 0) so that benchmarks and the demo lose
nothing between simulator and broker; ingest treats both the same.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from esio_spb_builder.core import sparkplug_b_pb2 as pb

from device_sim.engine import Fleet, Frame
from device_sim.mqtt_out import PublishStats
from forewarn import mqtt as fmqtt
from forewarn.settings import MqttSettings

DOUBLE, BOOLEAN, STRING, UINT64 = 10, 11, 12, 8
NS = "spBv1.0"


class _Node:
    """One edge node: its MQTT session, seq counter and devices."""

    def __init__(self, site: str, edge: str, assets: list[tuple[str, str, list[str]]]) -> None:
        self.site, self.edge = site, edge
        self.assets = assets  # (asset, class, metrics)
        self.seq = 0
        self.bdseq = 0
        self.lock = threading.Lock()  # rebirths come from paho's thread
        self.client: mqtt.Client | None = None

    def topic(self, kind: str, device: str = "") -> str:
        return f"{NS}/{self.site}/{kind}/{self.edge}" + (f"/{device}" if device else "")


def _payload(seq: int | None, metrics: Sequence[tuple[Any, ...]] = ()) -> Any:
    p = pb.Payload(timestamp=int(time.time() * 1000))
    if seq is not None:
        p.seq = seq
    for name, alias, datatype, value, ts in metrics:
        m = p.metrics.add()
        if name:
            m.name = name
        if alias:
            m.alias = alias
        if datatype:
            m.datatype = datatype
        if ts is not None:
            m.timestamp = ts
        if value is None:
            m.is_null = True
        elif datatype == STRING:
            m.string_value = value
        elif datatype == BOOLEAN:
            m.boolean_value = value
        elif datatype == UINT64:
            m.long_value = value
        else:
            m.double_value = value
    return p


class SparkplugFleet:
    """Publishes a fleet's frames as Sparkplug B edge nodes; a frame sink of the runner."""

    def __init__(
        self,
        fleet: Fleet,
        settings: MqttSettings,
        *,
        batch_samples: int | None = None,
        qos: int = 1,
        max_inflight: int = 1000,
    ) -> None:
        self.settings, self.qos, self.max_inflight = settings, qos, max_inflight
        self.batch = batch_samples or fleet.scenario.batch_samples
        self.stats = PublishStats()
        self.rebirths = 0
        self._acked = 0
        self._lock = threading.Lock()
        by_site: dict[str, list[tuple[str, str, list[str]]]] = defaultdict(list)
        self.where: dict[str, tuple[str, int]] = {}  # asset -> (class, row)
        for cls, g in fleet.groups.items():
            for i, a in enumerate(g.assets):
                by_site[a.site].append((a.id, cls, list(g.metrics)))
                self.where[a.id] = (cls, i)
        self.nodes = [_Node(site, f"sim-{site}", assets) for site, assets in by_site.items()]
        order = [a for n in self.nodes for a, _, _ in n.assets]
        self.phase = {a: i % self.batch for i, a in enumerate(order)}
        self.node_of = {a: n for n in self.nodes for a, _, _ in n.assets}
        self.pending: dict[str, list[tuple[int, list[float]]]] = defaultdict(list)
        self.name = fleet.scenario.name

    # -- session ----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Connect every edge node and publish its births; ServiceUnavailable if no broker."""
        for node in self.nodes:
            death = _payload(None, [("bdSeq", 0, UINT64, node.bdseq, None)])
            client = fmqtt.paho_client(
                self.settings,
                fmqtt.client_id(self.settings, f"sim-spb-{node.edge}"),
                max_inflight=self.max_inflight,
                will=(node.topic("NDEATH"), death.SerializeToString(), 1, False),
            )
            client.on_publish = self._on_publish
            client.on_message = lambda c, u, msg, n=node: self._on_command(n, msg)
            node.client = client
            fmqtt.connect_paho(client, self.settings, timeout)
            client.subscribe(node.topic("NCMD"), qos=1)
            self._births(node)

    def _on_publish(self, *args: object) -> None:
        with self._lock:
            self._acked += 1

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    def _on_command(self, node: _Node, msg: mqtt.MQTTMessage) -> None:
        try:
            cmd = pb.Payload.FromString(msg.payload)
        except Exception:  # not ours to judge; a bad command is ignored
            return
        if any(m.name == "Node Control/Rebirth" and m.boolean_value for m in cmd.metrics):
            self.rebirths += 1
            self._births(node)

    def _births(self, node: _Node) -> None:
        with node.lock:
            node.seq = 0
            birth = [
                ("bdSeq", 0, UINT64, node.bdseq, None),
                ("Node Control/Rebirth", 0, BOOLEAN, False, None),
            ]
            self._send(node, node.topic("NBIRTH"), _payload(0, birth), 0, bump=False)
            for asset, cls, metrics in node.assets:
                declared: list[tuple[Any, ...]] = [("Properties/AssetClass", 0, STRING, cls, None)]
                declared += [(m, k + 1, DOUBLE, None, None) for k, m in enumerate(metrics)]
                self._send(node, node.topic("DBIRTH", asset), _payload(None, declared), 0)

    def _send(self, node: _Node, topic: str, p: Any, samples: int, bump: bool = True) -> None:
        """Publish with the node's next seq (callers hold ``node.lock``)."""
        if bump:
            node.seq = (node.seq + 1) % 256
            p.seq = node.seq
        data = p.SerializeToString()
        assert node.client is not None
        node.client.publish(topic, data, qos=self.qos)
        self.stats.messages += 1
        self.stats.samples += samples
        self.stats.bytes += len(data)

    # -- data -------------------------------------------------------------------------

    def __call__(self, frame: Frame) -> None:
        ms = int(frame.ts.timestamp() * 1000)
        slot = frame.k % self.batch
        for asset, (cls, i) in self.where.items():
            if frame.online[cls][i]:
                self.pending[asset].append((ms, frame.values[cls][i].tolist()))
            if self.phase[asset] == slot:
                self._flush(asset)

    def _flush(self, asset: str) -> None:
        rows = self.pending.pop(asset, None)
        if not rows:
            return
        node = self.node_of[asset]
        metrics = [
            (None, k + 1, 0, v, ms)
            for ms, values in rows
            for k, v in enumerate(values)
            if not math.isnan(v)
        ]
        if not metrics:
            return
        with node.lock:
            self._send(node, node.topic("DDATA", asset), _payload(None, metrics), len(rows))

    def stop(self, timeout: float = 30.0) -> None:
        """Send what is buffered, wait for the broker's acks, NDEATH, disconnect."""
        for asset in list(self.pending):
            self._flush(asset)
        deadline = time.monotonic() + timeout
        while self.acked < self.stats.messages and time.monotonic() < deadline:
            time.sleep(0.01)
        for node in self.nodes:
            if node.client is None:
                continue
            death = _payload(None, [("bdSeq", 0, UINT64, node.bdseq, None)])
            node.client.publish(
                node.topic("NDEATH"), death.SerializeToString(), qos=1
            ).wait_for_publish(5)
            node.client.disconnect()
            node.client.loop_stop()
