"""Every data type and byte/word order, read over real Modbus TCP from a server that is
not ours (pyModbusTCP), with register contents written by hand from the vendor notation
(ABCD, CDAB, BADC, DCBA), not by our codec."""

from __future__ import annotations

import asyncio
import math
import struct

import pytest
from gateway_kit import write_config, write_profile

from gateway import load
from gateway.poller import client_for, poll_once

pytestmark = pytest.mark.integration

# (byte_order, word_order) -> permutation of the big-endian bytes, in vendor notation.
ORDERS_32 = {
    ("big", "big"): "ABCD",
    ("big", "little"): "CDAB",
    ("little", "big"): "BADC",
    ("little", "little"): "DCBA",
}
ORDERS_64 = {
    ("big", "big"): "ABCDEFGH",
    ("big", "little"): "GHEFCDAB",
    ("little", "big"): "BADCFEHG",
    ("little", "little"): "HGFEDCBA",
}
ORDERS_16 = {("big", "big"): "AB", ("little", "big"): "BA"}

VALUES = {
    "int16": ("h", -12345),
    "uint16": ("H", 54321),
    "int32": ("i", -123456789),
    "uint32": ("I", 3456789012),
    "float32": ("f", -1234.5),
    "float64": ("d", 1234567.891),
}


def _words(fmt: str, value: float, notation: str) -> list[int]:
    raw = struct.pack(">" + fmt, value)
    arranged = bytes(raw[ord(c) - ord("A")] for c in notation)
    return [int.from_bytes(arranged[i : i + 2], "big") for i in range(0, len(arranged), 2)]


def _cases():
    for typ, (fmt, value) in VALUES.items():
        size = struct.calcsize(fmt)
        orders = {2: ORDERS_16, 4: ORDERS_32, 8: ORDERS_64}[size]
        for (bo, wo), notation in orders.items():
            yield typ, fmt, value, bo, wo, notation


def test_every_type_and_order_decodes_from_a_foreign_server(tmp_path, modbus_server):
    srv = modbus_server()
    points, expected = [], {}
    address = {"input": 0, "holding": 0}
    for i, (typ, fmt, value, bo, wo, notation) in enumerate(_cases()):
        kind = "input" if i % 2 == 0 else "holding"
        words = _words(fmt, value, notation)
        scale, offset = (0.5, 10.0) if typ == "int32" else (1.0, 0.0)
        name = f"{typ}_{notation}"
        points.append(
            {
                "name": name,
                "kind": kind,
                "address": address[kind],
                "type": typ,
                "byte_order": bo,
                "word_order": wo,
                "scale": scale,
                "offset": offset,
                "metric": name,
            }
        )
        setter = (
            srv.data_bank.set_input_registers
            if kind == "input"
            else srv.data_bank.set_holding_registers
        )
        setter(address[kind], words)
        address[kind] += len(words) + (i % 3)  # some gaps: several coalesced reads
        expected[name] = value * scale + offset
    # Bits: coils and discrete inputs, and a scaled int16 with a sentinel "missing" value.
    srv.data_bank.set_coils(5, [True, False, True])
    srv.data_bank.set_discrete_inputs(0, [False, True])
    srv.data_bank.set_holding_registers(500, [0x8000, 1234])
    points += [
        {"name": "c5", "kind": "coil", "address": 5, "type": "bool", "metric": "c5"},
        {"name": "c6", "kind": "coil", "address": 6, "type": "bool", "metric": "c6"},
        {"name": "c7", "kind": "coil", "address": 7, "type": "bool", "metric": "c7"},
        {"name": "d1", "kind": "discrete", "address": 1, "type": "bool", "metric": "d1"},
        {
            "name": "nan",
            "kind": "holding",
            "address": 500,
            "type": "int16",
            "missing": -32768,
            "metric": "nan_metric",
        },
        {
            "name": "tenth",
            "kind": "holding",
            "address": 501,
            "type": "uint16",
            "scale": 0.1,
            "offset": -100,
            "metric": "tenth",
        },
    ]
    expected.update({"c5": 1.0, "c6": 0.0, "c7": 1.0, "d1": 1.0, "tenth": 23.4})
    profile = write_profile(tmp_path / "all_types.yaml", points, max_gap=0)
    cfg = load(
        write_config(
            tmp_path / "gw.yaml",
            [
                {
                    "id": "d",
                    "host": "127.0.0.1",
                    "port": srv.port,
                    "profile": str(profile),
                    "asset": "a1",
                }
            ],
        )
    )
    dev = cfg.devices[0]
    assert len(dev.reads) > 4, "gaps split the map into several reads"

    async def poll():
        client = client_for(dev)
        assert await client.connect()
        try:
            return await poll_once(client, dev)
        finally:
            client.close()

    values, npoints, failures = asyncio.run(poll())
    assert failures == []
    assert npoints == len(points)
    assert "nan_metric" not in values, "the 'missing' sentinel is no reading, not a number"
    assert set(values) == set(expected)
    for name, want in expected.items():
        assert math.isclose(values[name], want, rel_tol=1e-12), (name, values[name], want)
