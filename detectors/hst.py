"""river's HalfSpaceTrees on baseline-standardised features, subsampled and calibrated.

HalfSpaceTrees assumes features in [0, 1]; raw sensor values are not, and a min-max scaler
breaks on the first new extreme. We feed ``0.5 + 0.5 tanh(z / squash)`` of each metric's
robust z, which is always in (0, 1), follows slow drift with the baseline and is not moved
by outliers. The trees run on every ``every``-th sample (their cost dominates) and their raw
score is calibrated against its own running mean and spread once the trees hold a full
reference window, so 0.5 means "unusually isolated" whatever the raw scale. They only learn
while the asset is calm, so a long fault does not become the trees' new normal.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from functools import cache
from itertools import compress
from operator import attrgetter
from typing import Any

from river.anomaly import HalfSpaceTrees
from river.tree.padded import PaddedBranch, PaddedLeaf

from detectors.base import Scorer, squash
from detectors.configuration import HSTConfig

_CALIBRATE = 50
_FEATURE, _THRESHOLD = attrgetter("feature"), attrgetter("threshold")
_L_MASS, _R_MASS = (
    attrgetter("l_mass"),
    attrgetter("r_mass"),
)  # raw scores seen before the calibrated score is trusted


class TreeScorer(Scorer):
    """Calibrated, subsampled HalfSpaceTrees over features already in [0, 1].

    >>> ts = TreeScorer(HSTConfig(every=1, window_size=50))
    >>> for i in range(400):
    ...     _ = ts.update_one({"a": 0.5 + 0.01 * (i % 5), "b": 0.5})
    >>> ts.update_one({"a": 0.52, "b": 0.5}) < 0.5
    True
    >>> ts.update_one({"a": 0.99, "b": 0.01}) > 0.5
    True
    """

    name = "half_space_trees"

    def __init__(self, config: HSTConfig | None = None) -> None:
        self.cfg = config or HSTConfig()
        c = self.cfg
        self.model = HalfSpaceTrees(
            n_trees=c.n_trees, height=c.height, window_size=c.window_size, seed=c.seed
        )
        self.n = 0
        self.seen = 0
        self.learned = 0
        self.mean = 0.0
        self.var = 0.0
        self.last = 0.0

    def update_one(self, x: Mapping[str, float], learn: float = 1.0) -> float:
        self.n += 1
        if self.n % self.cfg.every:
            return self.last
        raw = self.model.score_one(dict(x))
        if self.learned >= self.cfg.window_size:  # reference mass exists after one window
            if self.seen >= _CALIBRATE:
                z = (raw - self.mean) / (math.sqrt(self.var) + 1e-3)
                self.last = squash(z, self.cfg.z_half) if z > 0 else 0.0
            if learn >= 0.5 or self.seen < _CALIBRATE:
                self.seen += 1
                a = max(0.01, 1.0 / self.seen)
                d = raw - self.mean
                self.mean += a * d
                self.var += a * (d * d - self.var)
        if learn >= 0.5:
            self.model.learn_one(dict(x))
            self.learned += 1
        return self.last

    # Checkpoints pickle every asset's scorer. river's trees are thousands of node objects
    # (10 trees of height 8: 5,110), which made pickling ~13 ms and 250 kB per asset, the
    # larger part of a detector worker's CPU at 1 Hz. Packed as flat arrays it is a fraction.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["model"] = _pack(self.model)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("model"), dict):  # older checkpoints hold the model itself
            state["model"] = _unpack(state["model"])
        self.__dict__.update(state)


@cache
def _branch_mask(height: int) -> tuple[bool, ...]:
    """Which positions of a full tree of ``height``, depth first, are branches (not leaves)."""
    if height == 0:
        return (False,)
    below = _branch_mask(height - 1)
    return (True, *below, *below)


def _pack(model: HalfSpaceTrees) -> dict[str, Any]:
    """The model's attributes with each tree as depth-first arrays of its nodes."""
    state = {k: v for k, v in vars(model).items() if k not in ("trees", "_tree_nodes")}
    mask = _branch_mask(model.height)
    nodes_of = getattr(model, "_tree_nodes", [])
    branches = [list(compress(nodes, mask)) for nodes in nodes_of]
    names = sorted({n.feature for b in branches for n in b}, key=str)
    index = {name: i for i, name in enumerate(names)}
    trees = [
        (
            array("h", map(index.__getitem__, map(_FEATURE, b))),
            array("d", map(_THRESHOLD, b)),
            array("i", map(_L_MASS, nodes)),
            array("i", map(_R_MASS, nodes)),
        )
        for nodes, b in zip(nodes_of, branches, strict=True)
    ]
    return {"attrs": state, "features": names, "trees": trees}


def _unpack(packed: dict[str, Any]) -> HalfSpaceTrees:
    model = HalfSpaceTrees.__new__(HalfSpaceTrees)
    model.__dict__.update(packed["attrs"])
    names = packed["features"]
    mask = _branch_mask(model.height)
    trees = []
    for tree in packed["trees"]:
        trees.append(_tree(mask, names, *tree))
    model.trees = trees
    model._tree_nodes = [list(t.iter_dfs()) for t in trees]
    return model


def _tree(mask: tuple[bool, ...], names: list[Any], feat: Any, thr: Any, lm: Any, rm: Any) -> Any:
    """Rebuild one tree from its depth-first arrays (branches carry feature and threshold)."""
    pos, branch = iter(range(len(mask))), iter(range(len(feat)))

    def build() -> Any:
        i = next(pos)
        if not mask[i]:
            return PaddedLeaf(l_mass=lm[i], r_mass=rm[i])
        b = next(branch)
        left = build()
        right = build()
        return PaddedBranch(left, right, names[feat[b]], thr[b], lm[i], rm[i])

    return build()
