"""An independent Sparkplug B edge node for tests.

Written from the Sparkplug 3.0 specification's payload definition with its own protobuf
wire encoder and decoder (varints, fixed32/64, length-delimited fields): no generated
classes and no google.protobuf, so intake (which uses Tahu's generated classes) is checked
against an encoding it did not produce. MQTT through paho, as any edge node would.
"""

from __future__ import annotations

import struct
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

# Sparkplug B data types (specification 3.0, 6.4.16) and the payload field that carries each.
TYPES = {
    "Int8": 1, "Int16": 2, "Int32": 3, "Int64": 4, "UInt8": 5, "UInt16": 6, "UInt32": 7,
    "UInt64": 8, "Float": 9, "Double": 10, "Boolean": 11, "String": 12,
}  # fmt: skip


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _uint(field: int, n: int) -> bytes:
    return _key(field, 0) + _varint(n)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def metric(
    kind: str,
    value: Any,
    *,
    name: str | None = None,
    alias: int | None = None,
    ts: int | None = None,
    historical: bool = False,
    send_type: bool = True,
) -> bytes:
    """One Payload.Metric: name 1, alias 2, timestamp 3, datatype 4, is_historical 5."""
    out = b""
    if name is not None:
        out += _bytes(1, name.encode())
    if alias is not None:
        out += _uint(2, alias)
    if ts is not None:
        out += _uint(3, ts)
    if send_type:
        out += _uint(4, TYPES[kind])
    if historical:
        out += _uint(5, 1)
    t = TYPES[kind]
    if t in (1, 2, 3, 5, 6, 7):  # int_value (uint32, two's complement for negatives)
        out += _uint(10, value & 0xFFFFFFFF)
    elif t in (4, 8):  # long_value (uint64)
        out += _uint(11, value & 0xFFFFFFFFFFFFFFFF)
    elif t == 9:  # float_value, fixed32
        out += _key(12, 5) + struct.pack("<f", value)
    elif t == 10:  # double_value, fixed64
        out += _key(13, 1) + struct.pack("<d", value)
    elif t == 11:
        out += _uint(14, 1 if value else 0)
    else:
        out += _bytes(15, str(value).encode())
    return out


def payload(metrics: list[bytes], *, seq: int | None = None, ts: int | None = None) -> bytes:
    """Payload: timestamp 1, metrics 2 (repeated), seq 3."""
    out = _uint(1, ts) if ts is not None else b""
    out += b"".join(_bytes(2, m) for m in metrics)
    return out + (_uint(3, seq) if seq is not None else b"")


def parse(data: bytes) -> dict[int, list[Any]]:
    """Fields of one protobuf message: number -> values (ints or raw bytes)."""
    fields: dict[int, list[Any]] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        shift = n = 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value: Any = varint()
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        elif wire == 2:
            n = varint()
            value, i = data[i : i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        fields.setdefault(field, []).append(value)
    return fields


def is_rebirth(data: bytes) -> bool:
    """An NCMD payload holding ``Node Control/Rebirth = true``."""
    for m in parse(data).get(2, []):
        f = parse(m)
        if f.get(1) == [b"Node Control/Rebirth"] and f.get(14) == [1]:
            return True
    return False


def now_ms() -> int:
    return int(time.time() * 1000)


class EdgeNode:
    """One Sparkplug B edge node: its session (bdSeq, seq) and a QoS 0/1 publisher."""

    def __init__(
        self, host: str, port: int, group: str, edge: str, bdseq: int = 0, ident: str = ""
    ) -> None:
        self.group, self.edge, self.bdseq = group, edge, bdseq
        self.seq = 0
        self.rebirths: list[bytes] = []
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"spb-{group}-{edge}{ident}"
        )
        death = payload([metric("UInt64", bdseq, name="bdSeq")])
        self.client.will_set(self.topic("NDEATH"), death, qos=1)
        self.client.on_connect = lambda c, *a: c.subscribe(self.topic("NCMD"), qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "edge node did not subscribe to its NCMD"

    def _on_message(self, client: Any, ud: Any, msg: paho.MQTTMessage) -> None:
        if is_rebirth(msg.payload):
            self.rebirths.append(bytes(msg.payload))

    def topic(self, kind: str, device: str | None = None) -> str:
        base = f"spBv1.0/{self.group}/{kind}/{self.edge}"
        return f"{base}/{device}" if device else base

    def send(self, kind: str, device: str | None, metrics: list[bytes], **kw: Any) -> bytes:
        """Publish with the next seq (NBIRTH resets it to 0); return the payload."""
        if kind == "NBIRTH":
            self.seq = 0
        seq = kw.pop("seq", self.seq)
        data = payload(metrics, seq=seq, ts=kw.pop("ts", now_ms()))
        self.seq = (seq + 1) % 256
        self.raw(self.topic(kind, device), data)
        return data

    def raw(self, topic: str, data: bytes) -> None:
        info = self.client.publish(topic, data, qos=1)
        info.wait_for_publish(10)

    def nbirth(self, *node_metrics: bytes) -> bytes:
        return self.send(
            "NBIRTH",
            None,
            [
                metric("UInt64", self.bdseq, name="bdSeq"),
                metric("Boolean", False, name="Node Control/Rebirth"),
                *node_metrics,
            ],
        )

    def ndeath(self) -> None:
        self.raw(self.topic("NDEATH"), payload([metric("UInt64", self.bdseq, name="bdSeq")]))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
