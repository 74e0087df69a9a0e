"""Loader: the shipped profiles load; bad maps are refused with file, line, key, reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from forewarn.registers import (
    ASSET_CLASSES,
    RegisterMapError,
    load_profile,
    load_profiles,
    parse_profile,
    plan_profile_reads,
)

GOOD = """\
profile: t
vendor: V
model: M
asset_class: centrifugal_pump
points:
  - name: a
    kind: input
    address: 0
    type: float32
    metric: a
  - name: b
    kind: input
    address: 2
    type: int16
"""


def refuse(text: str) -> RegisterMapError:
    with pytest.raises(RegisterMapError) as info:
        parse_profile(text, "p.yaml")
    return info.value


def test_shipped_profiles_cover_every_asset_class():
    profiles = load_profiles()
    assert {p.asset_class for p in profiles.values()} == set(ASSET_CLASSES)
    for p in profiles.values():
        assert plan_profile_reads(p)


def test_good_profile_and_defaults():
    p = parse_profile(GOOD.replace("points:", "defaults: {word_order: little}\npoints:"))
    assert p.point("a").word_order == "little"
    assert p.device.unit_id == 1 and p.metrics.keys() == {"a"}


@pytest.mark.parametrize(
    ("edit", "line", "key", "reason"),
    [
        # overlapping registers: b starts inside a's two registers
        (("address: 2", "address: 1"), 13, "points[1].address", "overlaps"),
        # a type that does not fit the stated register count
        (("type: int16", "type: int16\n    count: 2"), 15, "points[1].count", "1 register"),
        # unknown byte order
        (
            ("type: int16", "type: int16\n    byte_order: middle"),
            15,
            "points[1].byte_order",
            "'big' or 'little'",
        ),
        # unknown type
        (("type: int16", "type: int24"), 14, "points[1].type", "Input should be"),
        # duplicate name
        (("name: b", "name: a"), 11, "points[1].name", "duplicate name"),
        # missing field (address)
        (("    address: 2\n", ""), 11, "points[1].address", "missing required field"),
        # unknown asset class
        (("centrifugal_pump", "turbine"), 4, "asset_class", "Input should be"),
        # misspelled field
        (("metric: a", "metrc: a"), 10, "points[0].metrc", "unknown field"),
        # a coil cannot be a float
        (
            ("kind: input\n    address: 2", "kind: coil\n    address: 2"),
            14,
            "points[1].type",
            "one bit",
        ),
        # zero scale
        (("type: int16", "type: int16\n    scale: 0"), 15, "points[1].scale", "non-zero"),
        # a 'missing' sentinel that the type cannot hold
        (
            ("type: int16", "type: int16\n    missing: 40000"),
            15,
            "points[1].missing",
            "not a int16",
        ),
        # a string needs a count
        (("type: int16", "type: string"), 11, "points[1].count", "needs count"),
    ],
)
def test_bad_maps_refused_with_line_key_reason(edit, line, key, reason):
    err = refuse(GOOD.replace(*edit))
    assert err.file == "p.yaml"
    assert (err.line, err.key) == (line, key), str(err)
    assert reason in err.reason
    assert f"p.yaml:{line}: {key}:" in str(err)


def test_duplicate_yaml_key_and_syntax_error():
    err = refuse(GOOD.replace("model: M", "model: M\nmodel: N"))
    assert (err.line, err.key, err.reason) == (4, "model", "duplicate key")
    err = refuse(GOOD + "  - {name: c, kind: [\n")
    assert err.reason.startswith("YAML syntax") and err.line is not None
    err = refuse("- just\n- a list\n")
    assert "mapping" in err.reason


def test_unreadable_file_and_duplicate_profile_names(tmp_path: Path):
    with pytest.raises(RegisterMapError, match="cannot read"):
        load_profile(tmp_path / "nope.yaml")
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(RegisterMapError, match="also used by"):
        load_profiles(tmp_path)


FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.sampled_from(["big", "little", "float32", "coil", "string", "-1", "1e9", "{", "[]"]),
)


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(
        [
            "kind",
            "address",
            "type",
            "count",
            "byte_order",
            "word_order",
            "scale",
            "offset",
            "metric",
            "missing",
            "name",
            "unit",
        ]
    ),
    value=FIELD_VALUES,
    which=st.integers(0, 1),
)
def test_any_field_value_loads_or_is_refused_cleanly(field, value, which):
    """Fuzz: whatever a vendor types into a field, the answer is a profile or a
    RegisterMapError with a line and key; never another exception."""
    data = yaml.safe_load(GOOD)
    data["points"][which][field] = value
    text = yaml.safe_dump(data, sort_keys=False)
    try:
        parse_profile(text, "fuzz.yaml")
    except RegisterMapError as exc:
        assert exc.line is not None and exc.reason
