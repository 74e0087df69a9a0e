"""Every Sparkplug B scalar type through the intake, encoded by the tests' own encoder.

No servers: ``SparkplugIntake.handle`` is pure. Tried: both encodings of negative small
integers (0xFF and 0xFFFFFFFF for Int8 -1), Int64 and UInt64 extremes, float32, NaN, null,
text, UUID and DateTime as events, a value of the wrong kind for its type, a metric with
neither name nor alias, a DataSet-typed metric (skipped), names that need mapping.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from spb_edge import _bytes, _key, _uint, metric, now_ms, payload

from forewarn.settings import SparkplugSettings
from ingest.sparkplug import SparkplugIntake
from ingest.sparkplug.model import SpAccepted
from ingest.validate import Policy, Rejected

G, E, D = "plant-x", "edge", "dev-1"


def intake(**cfg: Any) -> SparkplugIntake:
    policy = Policy(max_future=timedelta(minutes=5), max_past=timedelta(days=2))
    return SparkplugIntake(SparkplugSettings(enabled=True, **cfg), policy)


def born(spi: SparkplugIntake, *metrics: bytes) -> list[Any]:
    nb = payload([metric("UInt64", 0, name="bdSeq")], seq=0)
    node = spi.handle(f"spBv1.0/{G}/NBIRTH/{E}", nb)
    assert [(i.rows, i.births[0][2]) for i in node] == [([], "")]  # a birth to keep, no rows
    return spi.handle(f"spBv1.0/{G}/DBIRTH/{E}/{D}", payload(list(metrics), seq=1))


def raw_metric(name: str, datatype: int, field_bytes: bytes, ts: int) -> bytes:
    return _bytes(1, name.encode()) + _uint(3, ts) + _uint(4, datatype) + field_bytes


def test_numeric_types_become_exact_numbers_and_text_becomes_events() -> None:
    t = now_ms() - 1000
    items = born(
        intake(),
        metric("Int8", -1, name="i8", ts=t),  # encoded as 0xFFFFFFFF
        raw_metric("i8b", 1, _uint(10, 0xFF), t),  # the other common encoding of Int8 -1
        metric("Int16", -32768, name="i16", ts=t),
        metric("Int32", -2147483648, name="i32", ts=t),
        metric("Int64", -(2**62), name="i64", ts=t),
        metric("UInt8", 255, name="u8", ts=t),
        metric("UInt32", 2**32 - 1, name="u32", ts=t),
        metric("UInt64", 2**53, name="u64", ts=t),
        metric("Float", 0.1, name="f32", ts=t),
        metric("Double", 0.1, name="f64", ts=t),
        metric("Boolean", False, name="Valve/Open", ts=t),
        raw_metric("nan", 10, _key(13, 1) + struct.pack("<d", float("nan")), t),
        _bytes(1, b"null") + _uint(3, t) + _uint(4, 10) + _uint(7, 1),  # is_null
        metric("String", "ok", name="State", ts=t),
        raw_metric("Serial", 15, _bytes(15, b"0b7c-uuid"), t),  # UUID
        raw_metric("Installed", 13, _uint(11, 1_700_000_000_000), t),  # DateTime
        raw_metric("Table", 16, b"", t),  # DataSet: not stored
        metric("Double", 1.0, name="9lives", ts=t),
    )
    assert len(items) == 1 and isinstance(items[0], SpAccepted)
    item = items[0]
    values = {m: v for _, _, m, v in item.rows}
    assert values == {
        "i8": -1.0, "i8b": -1.0, "i16": -32768.0, "i32": -2147483648.0, "i64": float(-(2**62)),
        "u8": 255.0, "u32": float(2**32 - 1), "u64": float(2**53),
        "f32": struct.unpack("<f", struct.pack("<f", 0.1))[0], "f64": 0.1,
        "Valve.Open": 0.0, "m_9lives": 1.0,
    }  # fmt: skip
    assert {r[0] for r in item.rows} == {datetime.fromtimestamp(t / 1000, UTC)}
    assert {(e[2], e[3]) for e in item.events} == {
        ("State", "ok"),
        ("Serial", "0b7c-uuid"),
        ("Installed", "2023-11-14T22:13:20Z"),
    }
    assert item.births and item.births[0][:3] == (G, E, D)


def test_refused_metrics_name_the_problem() -> None:
    spi = intake(metric_names={"Temp Sensor #1": "temp1"})
    t = now_ms() - 1000
    ok = born(spi, metric("Double", 5.0, name="Temp Sensor #1", alias=1, ts=t))
    assert [r[2] for r in ok[0].rows] == ["temp1"]
    cases = [
        (raw_metric("x", 10, _uint(14, 1), t), "carries boolean_value"),  # Double with a bool
        (_uint(3, t) + _key(13, 1) + struct.pack("<d", 1.0), "neither a name nor an alias"),
        (metric("Double", 1.0, name="y", ts=t + 3_600_000), "in the future"),
    ]
    for seq, (m, why) in enumerate(cases, start=2):
        out = spi.handle(f"spBv1.0/{G}/DDATA/{E}/{D}", payload([m], seq=seq))
        assert len(out) == 1 and isinstance(out[0], Rejected), out
        assert why in out[0].reason
    bad_topic = spi.handle(f"spBv1.0/{G}/DDATA/{E}", payload([], seq=5))
    assert isinstance(bad_topic[0], Rejected) and "message type" in bad_topic[0].reason
    bad_group = intake().handle(
        "spBv1.0/Plant A/NBIRTH/e",
        payload([metric("UInt64", 0, name="bdSeq"), metric("Double", 1.0, name="v")]),
    )
    assert isinstance(bad_group[0], Rejected) and "map it in sparkplug.sites" in bad_group[0].reason
