"""TreeScorer checkpoints: packed trees resume identically, and old checkpoints still load."""

from __future__ import annotations

import pickle
import random

from river.anomaly import HalfSpaceTrees

from detectors import hst
from detectors.configuration import HSTConfig
from detectors.hst import TreeScorer


def _river(ts: TreeScorer) -> HalfSpaceTrees:
    """The scorer's trees as river's own model (what checkpoints held before FlatTrees)."""
    m = ts.model
    river = HalfSpaceTrees(n_trees=m.n_trees, height=m.height, window_size=m.window_size)
    blob = m.pack()
    river.limits, river.rng = blob["attrs"]["limits"], blob["attrs"]["rng"]
    river.counter, river._first_window, river.seed = m.counter, m.first_window, m.seed
    mask = hst._branch_mask(m.height)
    river.trees, river._tree_nodes = [], []
    for feat, thr, lm, rm in blob["trees"]:
        root = _node_tree(mask, blob["features"], feat, thr, lm, rm)
        river.trees.append(root)
        river._tree_nodes.append(list(root.iter_dfs()))
    return river


def _node_tree(mask, names, feat, thr, lm, rm):  # type: ignore[no-untyped-def]
    from river.tree.padded import PaddedBranch, PaddedLeaf

    pos, branch = iter(range(len(mask))), iter(range(len(feat)))

    def build():  # type: ignore[no-untyped-def]
        i = next(pos)
        if not mask[i]:
            return PaddedLeaf(l_mass=lm[i], r_mass=rm[i])
        b = next(branch)
        left = build()
        right = build()
        return PaddedBranch(left, right, names[feat[b]], thr[b], lm[i], rm[i])

    return build()


def _stream(n: int, seed: int) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [{"a": rng.random(), "b": 0.5 + 0.1 * rng.random()} for _ in range(n)]


def test_packed_checkpoint_resumes_with_identical_scores() -> None:
    xs = _stream(1200, 1)
    live = TreeScorer(HSTConfig(every=1, window_size=100))
    for x in xs[:600]:
        live.update_one(x)
    blob = pickle.dumps(live, protocol=pickle.HIGHEST_PROTOCOL)
    resumed = pickle.loads(blob)
    assert [live.update_one(x) for x in xs[600:]] == [resumed.update_one(x) for x in xs[600:]]
    # The packed form holds arrays, not thousands of node objects.
    legacy = dict(live.__dict__, model=_river(live))
    size = len(pickle.dumps(legacy, protocol=pickle.HIGHEST_PROTOCOL))
    assert len(blob) < size / 1.5, (len(blob), size)


def test_checkpoint_pickled_with_the_model_object_still_loads() -> None:
    """Checkpoints written before packing hold river's model itself."""
    xs = _stream(800, 2)
    live = TreeScorer(HSTConfig(every=1, window_size=100))
    for x in xs[:400]:
        live.update_one(x)
    old = TreeScorer.__new__(TreeScorer)
    old.__setstate__(pickle.loads(pickle.dumps(dict(live.__dict__, model=_river(live)))))
    assert [live.update_one(x) for x in xs[400:]] == [old.update_one(x) for x in xs[400:]]


def test_untrained_scorer_round_trips() -> None:
    fresh = pickle.loads(pickle.dumps(TreeScorer(HSTConfig(every=1, window_size=50))))
    scores = [fresh.update_one(x) for x in _stream(300, 3)]
    assert len(scores) == 300 and all(0.0 <= s <= 1.0 for s in scores)
