"""FlatTrees is river's HalfSpaceTrees in flat lists: same trees, masses and scores.

The detector's spike trees moved off river's node objects for cost (detectors/hst.py says
why); these run river itself beside them on the same streams and demand identical floats.
"""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest
from river.anomaly import HalfSpaceTrees

from detectors import hst
from detectors.configuration import HSTConfig, load_config
from detectors.hst import FlatTrees, TreeScorer


def _stream(n: int, seed: int, names: list[str], drop: float = 0.0) -> list[dict[str, float]]:
    """Points in [0, 1], a cluster with outliers; ``drop``: share of samples missing a key."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = {k: min(1.0, max(0.0, rng.gauss(0.5, 0.08))) for k in names}
        if rng.random() < 0.03:
            x[rng.choice(names)] = rng.random()
        if drop and rng.random() < drop:
            del x[rng.choice(names)]
        out.append(x)
    return out


def _masses(model: HalfSpaceTrees) -> list[list[tuple[int, int]]]:
    return [[(n.l_mass, n.r_mass) for n in nodes] for nodes in model._tree_nodes]


@pytest.mark.parametrize(
    ("names", "seed", "drop", "window", "height"),
    [
        (["a", "b"], 42, 0.0, 50, 8),
        ([f"m{i:02d}" for i in range(16)], 42, 0.0, 250, 8),  # a simulator pump's width
        (["flow", "pressure", "vibration", "temp"], 7, 0.2, 40, 6),  # missing keys
        (["x", "y", "z"], 1234, 0.05, 100, 10),
    ],
)
def test_scores_and_masses_match_river(
    names: list[str], seed: int, drop: float, window: int, height: int
) -> None:
    xs = _stream(2000, seed + 1, names, drop)
    river = HalfSpaceTrees(n_trees=10, height=height, window_size=window, seed=seed)
    flat = FlatTrees(n_trees=10, height=height, window_size=window, seed=seed)
    for i, x in enumerate(xs):
        assert flat.score_one(x) == river.score_one(x), i
        if i % 5 != 3:  # the scorer skips learning while an alarm is open
            river.learn_one(x)
            flat.learn_one(x)
    assert [
        list(zip(lm, rm, strict=True)) for lm, rm in zip(flat.l_mass, flat.r_mass, strict=True)
    ] == _masses(river)
    assert flat.rng.getstate() == river.rng.getstate()
    assert dict(flat.limits) == dict(river.limits)


def test_unseeded_trees_are_drawn_from_the_models_own_generator() -> None:
    xs = _stream(600, 5, ["a", "b", "c"])
    river = HalfSpaceTrees(n_trees=3, height=5, window_size=60)
    flat = FlatTrees(n_trees=3, height=5, window_size=60)
    flat.rng.setstate(river.rng.getstate())
    for x in xs:
        assert flat.score_one(x) == river.score_one(x)
        river.learn_one(x)
        flat.learn_one(x)


def _river_scorer(cfg: HSTConfig) -> TreeScorer:
    """The scorer as it was: river's own model inside."""
    ts = TreeScorer(cfg)
    ts.model = HalfSpaceTrees(  # type: ignore[assignment]
        n_trees=cfg.n_trees, height=cfg.height, window_size=cfg.window_size, seed=cfg.seed
    )
    return ts


def test_scorer_on_flat_trees_matches_the_scorer_on_river() -> None:
    cfg = load_config().for_class("default").hst.model_copy(update={"every": 1})
    xs = _stream(3000, 9, ["a", "b", "c", "d", "e"])
    old, new = _river_scorer(cfg), TreeScorer(cfg)
    calm = [i % 50 < 40 for i in range(len(xs))]
    assert [old.update_one(x, float(c)) for x, c in zip(xs, calm, strict=True)] == [
        new.update_one(x, float(c)) for x, c in zip(xs, calm, strict=True)
    ]


def test_checkpoint_of_river_trees_resumes_on_flat_trees() -> None:
    """A checkpoint written by the node-object build (packed from river's model) restores
    into flat trees and goes on scoring exactly as river would have."""
    cfg = HSTConfig(every=1, window_size=100)
    xs = _stream(1500, 11, ["a", "b", "c"])
    old = _river_scorer(cfg)
    for x in xs[:700]:
        old.update_one(x)
    state: dict[str, Any] = dict(old.__dict__)
    state["model"] = hst._pack_river(old.model)  # type: ignore[arg-type]
    resumed = pickle.loads(pickle.dumps(_restore(state)))
    assert isinstance(resumed.model, FlatTrees)
    assert [old.update_one(x) for x in xs[700:]] == [resumed.update_one(x) for x in xs[700:]]


def test_flat_checkpoint_restores_in_the_node_object_form() -> None:
    """The packed form is unchanged, so river's model can be rebuilt from a new checkpoint
    (and a previous build reads it)."""
    cfg = HSTConfig(every=1, window_size=100)
    xs = _stream(1200, 12, ["a", "b"])
    new, ref = TreeScorer(cfg), _river_scorer(cfg)
    for x in xs[:500]:
        new.update_one(x)
        ref.update_one(x)
    packed = new.model.pack()
    assert packed["features"] == hst._pack_river(ref.model)["features"]  # type: ignore[arg-type]
    for mine, theirs in zip(packed["trees"], hst._pack_river(ref.model)["trees"], strict=True):  # type: ignore[arg-type]
        assert [bytes(a) for a in mine] == [bytes(a) for a in theirs]


def _restore(state: dict[str, Any]) -> TreeScorer:
    ts = TreeScorer.__new__(TreeScorer)
    ts.__setstate__(state)
    return ts
