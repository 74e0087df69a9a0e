"""Engineering values <-> 16-bit Modbus register words, for every type and order.

Conventions (stated in docs/register-maps.md): ``engineering = raw * scale + offset``;
``byte_order`` is the order of the two bytes inside each register ("big": high byte
first, the Modbus default); ``word_order`` is the order of the registers of a 32/64-bit
value ("big": most significant register at the lowest address). Orders combine to the
usual vendor names: big/big = ABCD, big/little = CDAB, little/big = BADC,
little/little = DCBA. Strings are ASCII, two characters per register, NUL padded; only
``byte_order`` applies to them.

``encode``/``decode`` are the scalar reference (``struct``); ``encode_array`` is the
vectorised form (numpy) the simulator uses for thousands of devices; tests hold them equal.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from forewarn.errors import ForewarnError
from forewarn.registers.model import RAW_RANGE, Point

Value = float | int | bool | str

_STRUCT = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "float32": "f",
    "float64": "d",
}
_RANGE = RAW_RANGE
_NUMPY = {
    "int16": ">i2",
    "uint16": ">u2",
    "int32": ">i4",
    "uint32": ">u4",
    "float32": ">f4",
    "float64": ">f8",
}


class RegisterValueError(ForewarnError, ValueError):
    """A value cannot be represented by a point (out of range, too long, not a number)."""

    def __init__(self, point: str, value: object, reason: str) -> None:
        self.point = point
        self.value = value
        self.reason = reason
        super().__init__(f"{point}: cannot encode {value!r}: {reason}")


def _order_words(words: list[int], p: Point) -> list[int]:
    """Big-endian words (MS first) -> wire order for ``p``; an involution."""
    if p.word_order == "little":
        words = words[::-1]
    if p.byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


def _raw(value: float, p: Point, saturate: bool) -> float | int:
    raw = (value - p.offset) / p.scale
    if p.type in _RANGE:
        if math.isnan(raw):
            if p.missing is None:
                raise RegisterValueError(p.name, value, "no number and no 'missing' raw value")
            return p.missing
        lo, hi = _RANGE[p.type]
        if math.isinf(raw):
            if not saturate:
                raise RegisterValueError(p.name, value, "infinite")
            return lo if raw < 0 else hi
        r = round(raw)
        if not lo <= r <= hi:
            if not saturate:
                raise RegisterValueError(p.name, value, f"raw {r} outside {p.type} {lo}..{hi}")
            r = min(max(r, lo), hi)
        return r
    if p.type == "float32" and math.isfinite(raw) and abs(raw) > 3.4028234663852886e38:
        if not saturate:
            raise RegisterValueError(p.name, value, "outside float32 range")
        raw = math.copysign(3.4028234663852886e38, raw)
    return raw


def encode(value: Value, p: Point, *, saturate: bool = False) -> list[int]:
    """Engineering value -> register words in wire order (one 0/1 for bits)."""
    if p.type == "bool":
        return [1 if value else 0]
    if p.type == "string":
        data = str(value).encode("ascii", errors="strict") if isinstance(value, str) else b""
        size = p.width * 2
        if len(data) > size:
            raise RegisterValueError(p.name, value, f"longer than {size} characters")
        data = data.ljust(size, b"\0")
        words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, size, 2)]
        if p.byte_order == "little":
            words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
        return words
    if isinstance(value, str):
        raise RegisterValueError(p.name, value, "not a number")
    raw = _raw(float(value), p, saturate)
    data = struct.pack(">" + _STRUCT[p.type], raw)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return _order_words(words, p)


def decode(words: Sequence[int | bool], p: Point) -> Value:
    """Register words in wire order -> engineering value (NaN for 'missing')."""
    if len(words) != p.width:
        raise ValueError(f"{p.name}: expected {p.width} word(s), got {len(words)}")
    if p.type == "bool":
        return bool(words[0])
    ws = [int(w) & 0xFFFF for w in words]
    if p.type == "string":
        if p.byte_order == "little":
            ws = [((w & 0xFF) << 8) | (w >> 8) for w in ws]
        data = b"".join(w.to_bytes(2, "big") for w in ws)
        return data.rstrip(b"\0").decode("ascii", errors="replace")
    ws = _order_words(ws, p)
    data = b"".join(w.to_bytes(2, "big") for w in ws)
    (raw,) = struct.unpack(">" + _STRUCT[p.type], data)
    if p.missing is not None and raw == p.missing:
        return math.nan
    return float(raw) * p.scale + p.offset


def encode_array(
    values: npt.ArrayLike, p: Point, *, saturate: bool = True
) -> npt.NDArray[np.uint16]:
    """Vectorised ``encode`` of n numeric values -> (n, width) uint16 words in wire order.

    Saturates by default (a simulated sensor pegs at its range, it does not crash);
    NaN becomes NaN for floats and ``missing`` for integers (0 when unset).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if p.type == "bool":
        return (np.nan_to_num(v) != 0).astype(np.uint16).reshape(-1, 1)
    if p.type == "string":
        raise RegisterValueError(p.name, "<array>", "strings are not vectorised")
    raw = (v - p.offset) / p.scale
    if p.type in _RANGE:
        lo, hi = _RANGE[p.type]
        nan = np.isnan(raw)
        if not saturate and (
            np.any(nan & (p.missing is None)) or np.any((raw[~nan] < lo) | (raw[~nan] > hi))
        ):
            raise RegisterValueError(p.name, "<array>", f"values outside {p.type} {lo}..{hi}")
        r = np.clip(np.rint(np.where(nan, 0.0, raw)), lo, hi).astype(np.int64)
        r = np.where(nan, p.missing if p.missing is not None else 0, r)
        typed = r.astype(_NUMPY[p.type])
    else:
        if p.type == "float32":
            raw = np.clip(raw, -3.4028234663852886e38, 3.4028234663852886e38)
        typed = raw.astype(_NUMPY[p.type])
    words = typed.view(">u2").reshape(v.size, -1)
    if p.word_order == "little":
        words = words[:, ::-1]
    out = words.astype(np.uint16)
    if p.byte_order == "little":
        out = out.byteswap()
    return out
