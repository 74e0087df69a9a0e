"""Codec: hand-computed words for every type and order, and hypothesis round trips."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forewarn.registers import Point, RegisterValueError, decode, encode, encode_array

ORDERS = [("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")]


def pt(type_: str, byte_order: str = "big", word_order: str = "big", **kw) -> Point:
    return Point(
        name="x",
        kind="holding",
        address=0,
        type=type_,
        byte_order=byte_order,
        word_order=word_order,
        **kw,
    )


# float32 1.0 = 0x3F800000; 123.456 = 0x42F6E979
@pytest.mark.parametrize(
    ("bo", "wo", "words"),
    [
        ("big", "big", [0x42F6, 0xE979]),  # ABCD
        ("big", "little", [0xE979, 0x42F6]),  # CDAB
        ("little", "big", [0xF642, 0x79E9]),  # BADC
        ("little", "little", [0x79E9, 0xF642]),  # DCBA
    ],
)
def test_float32_hand_computed(bo, wo, words):
    p = pt("float32", bo, wo)
    assert encode(123.456, p) == words
    assert decode(words, p) == pytest.approx(123.456, rel=1e-7)


def test_int32_uint32_int16_hand_computed():
    # -2 as int32 = 0xFFFFFFFE; 0x01020304 = 16909060
    assert encode(-2, pt("int32")) == [0xFFFF, 0xFFFE]
    assert encode(16909060, pt("uint32", "big", "little")) == [0x0304, 0x0102]
    assert encode(16909060, pt("uint32", "little", "little")) == [0x0403, 0x0201]
    assert encode(16909060, pt("uint32", "little", "big")) == [0x0201, 0x0403]
    assert encode(-1, pt("int16")) == [0xFFFF]
    assert encode(0x1234, pt("uint16", "little")) == [0x3412]
    # scale/offset: 23.4 degC at scale 0.1 -> raw 234 = 0x00EA
    assert encode(23.4, pt("int16", scale=0.1)) == [0x00EA]
    assert decode([0x00EA], pt("int16", scale=0.1)) == pytest.approx(23.4)
    # offset: engineering = raw * 0.5 - 40 -> 0 degC is raw 80
    assert encode(0.0, pt("uint16", scale=0.5, offset=-40)) == [80]


def test_float64_hand_computed():
    # 1.0 = 0x3FF0000000000000
    assert encode(1.0, pt("float64")) == [0x3FF0, 0, 0, 0]
    assert encode(1.0, pt("float64", "big", "little")) == [0, 0, 0, 0x3FF0]
    assert encode(1.0, pt("float64", "little", "big")) == [0xF03F, 0, 0, 0]


def test_string_and_bool():
    p = Point(name="s", kind="holding", address=0, type="string", count=3)
    assert encode("AB1", p) == [0x4142, 0x3100, 0x0000]
    assert decode([0x4142, 0x3100, 0], p) == "AB1"
    pl = Point(name="s", kind="holding", address=0, type="string", count=2, byte_order="little")
    assert encode("AB", pl) == [0x4241, 0]
    assert decode([0x4241, 0], pl) == "AB"
    with pytest.raises(RegisterValueError, match="longer than 6"):
        encode("TOO LONG", p)
    b = Point(name="b", kind="coil", address=0, type="bool")
    assert encode(True, b) == [1] and decode([True], b) is True


def test_bad_values_refused_or_saturated():
    p = pt("int16", scale=0.01)
    with pytest.raises(RegisterValueError, match="outside int16"):
        encode(400.0, p)  # raw 40000
    assert encode(400.0, p, saturate=True) == [0x7FFF]
    with pytest.raises(RegisterValueError, match="missing"):
        encode(math.nan, p)
    pm = pt("int16", missing=-32768)
    assert encode(math.nan, pm) == [0x8000]
    assert math.isnan(decode([0x8000], pm))
    with pytest.raises(RegisterValueError, match="not a number"):
        encode("abc", pt("float32"))
    with pytest.raises(ValueError, match="expected 2"):
        decode([1], pt("float32"))


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(v=finite32, order=st.sampled_from(ORDERS))
def test_float32_round_trip(v, order):
    p = pt("float32", *order)
    assert decode(encode(v, p), p) == v
    assert encode_array([v], p).tolist() == [encode(v, p)]


@given(v=st.floats(allow_nan=False, allow_infinity=False), order=st.sampled_from(ORDERS))
def test_float64_round_trip(v, order):
    p = pt("float64", *order)
    assert decode(encode(v, p), p) == v
    assert encode_array([v], p).tolist() == [encode(v, p)]


@pytest.mark.parametrize(
    ("type_", "lo", "hi"),
    [
        ("int16", -(2**15), 2**15 - 1),
        ("uint16", 0, 2**16 - 1),
        ("int32", -(2**31), 2**31 - 1),
        ("uint32", 0, 2**32 - 1),
    ],
)
@given(data=st.data())
def test_integer_round_trip(type_, lo, hi, data):
    raw = data.draw(st.integers(lo, hi))
    order = data.draw(st.sampled_from(ORDERS))
    scale = data.draw(st.sampled_from([1.0, 0.1, 0.01, 0.001, 10.0]))
    p = pt(type_, *order, scale=scale)
    value = raw * scale
    words = encode(value, p)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode(words, p) == pytest.approx(value, rel=1e-12, abs=1e-12)
    # The words are exactly the struct encoding of raw, reordered as stated.
    big = list(
        struct.unpack(
            ">" + "H" * len(words),
            struct.pack(
                ">" + {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I"}[type_], raw
            ),
        )
    )
    if order[1] == "little":
        big = big[::-1]
    if order[0] == "little":
        big = [((w & 0xFF) << 8) | (w >> 8) for w in big]
    assert words == big
    assert encode_array([value], p).tolist() == [words]


def test_encode_array_many_and_nan():
    p = pt("int16", scale=0.1, missing=-32768)
    out = encode_array(np.array([1.0, np.nan, -2.5, 1e9]), p)
    assert out.dtype == np.uint16 and out.shape == (4, 1)
    assert out[:, 0].tolist() == [10, 0x8000, 0xFFE7, 0x7FFF]  # -25 = 0xFFE7; saturated
    f = encode_array([np.nan], pt("float32"))
    assert math.isnan(decode(f[0].tolist(), pt("float32")))
