"""The simulator's 6-significant-digit rounding (vectorised, before the contract's orjson
writer) equals what ``%.6g`` printed, and prints as short, on values of every magnitude."""

from __future__ import annotations

import numpy as np

from device_sim.mqtt_out import round6


def test_round6_matches_printf_and_prints_short() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(0, 1, 20_000) * 10.0 ** rng.integers(-12, 12, 20_000)
    values = np.concatenate([values, [0.0, -0.0, 999_999.7, 123_456_789.0, 1e300]])
    got = round6(values.reshape(-1, 5)).ravel().tolist()
    want = [float(f"{v:.6g}") for v in values.tolist()]
    assert got == want
    digits = [repr(v).lstrip("-").split("e")[0].replace(".", "").strip("0") for v in got]
    assert max(len(d) for d in digits) <= 6  # short: no 0.30000000000000004 tails


def test_round6_keeps_nan_as_the_dropout_marker() -> None:
    out = round6(np.array([[np.nan, 1.0000004, 5e-324]]))
    assert np.isnan(out[0, 0]) and out[0, 1] == 1.0 and out[0, 2] == 0.0
