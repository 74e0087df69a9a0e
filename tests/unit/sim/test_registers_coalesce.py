"""Read planning: fewest reads within the limits, every point exactly once."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forewarn.registers import Point, encode, plan_reads


def p(name: str, address: int, type_: str = "uint16", kind: str = "holding") -> Point:
    return Point(name=name, kind=kind, address=address, type=type_)


def test_adjacent_points_share_one_read_and_decode():
    pts = [p("a", 0, "float32"), p("b", 2), p("c", 3, "int32"), p("d", 10)]
    reads = plan_reads(pts)
    assert [(r.address, r.count) for r in reads] == [(0, 5), (10, 1)]
    words = encode(1.5, pts[0]) + encode(7, pts[1]) + encode(-3, pts[2])
    assert reads[0].decode(words) == {"a": 1.5, "b": 7.0, "c": -3.0}
    # a gap of 5 registers is spanned only when allowed
    assert len(plan_reads(pts, max_gap=5)) == 1
    assert len(plan_reads(pts, max_gap=4)) == 2


def test_limits_and_kinds():
    pts = [p(f"r{i}", i * 2, "float32") for i in range(10)]
    reads = plan_reads(pts, max_registers=6)
    assert [r.count for r in reads] == [6, 6, 6, 2]
    mixed = [p("h", 0), p("i", 0, kind="input"), p("c", 0, "bool", "coil")]
    assert [(r.kind, r.function_code) for r in plan_reads(mixed)] == [
        ("coil", 1),
        ("input", 4),
        ("holding", 3),
    ]
    with pytest.raises(ValueError, match="exceed"):
        plan_reads([p("f", 0, "float64")], max_registers=3)


@given(
    sizes=st.lists(st.sampled_from(["uint16", "float32", "float64"]), min_size=1, max_size=40),
    gaps=st.lists(st.integers(0, 6), min_size=40, max_size=40),
    max_registers=st.integers(4, 125),
    max_gap=st.integers(0, 5),
)
def test_every_point_once_within_limits(sizes, gaps, max_registers, max_gap):
    pts, addr = [], 0
    for i, (t, g) in enumerate(zip(sizes, gaps, strict=False)):
        addr += g
        pts.append(p(f"p{i}", addr, t))
        addr = pts[-1].end
    reads = plan_reads(pts, max_registers=max_registers, max_gap=max_gap)
    covered = [q.name for r in reads for q in r.points]
    assert sorted(covered) == sorted(q.name for q in pts)
    for r in reads:
        assert r.count <= max_registers
        for q in r.points:
            assert r.address <= q.address and q.end <= r.address + r.count
    # Greedy coalescing is minimal: consecutive reads could not have been merged.
    for a, b in itertools.pairwise(reads):
        assert (
            b.address - (a.address + a.count) > max_gap
            or b.points[-1].end - a.address > max_registers
        )
