"""river's HalfSpaceTrees on baseline-standardised features, subsampled and calibrated.

HalfSpaceTrees assumes features in [0, 1]; raw sensor values are not, and a min-max scaler
breaks on the first new extreme. We feed ``0.5 + 0.5 tanh(z / squash)`` of each metric's
z against the frozen reference (detectors/health.py), which is always in (0, 1) and is not
moved by outliers. The trees run on every ``every``-th sample (their cost dominates) and their raw
score is calibrated against its own running mean and spread once the trees hold a full
reference window, so 0.5 means "unusually isolated" whatever the raw scale. They only learn
while the asset is calm, so a long fault does not become the trees' new normal.

The trees are river's (river draws them, from the same seed), held as flat per-node mass
lists (:class:`FlatTrees`) rather than river's node objects: 10 trees of height 8 are 5,110
objects per asset, which at 800 assets made drawing them ~30 ms an asset (all at once, when
the warm-ups end together), pickling them the larger part of a checkpoint, and gave the
garbage collector millions of objects to walk. Scores are identical
(tests/unit/detectors/test_hst_flat.py runs both on the same streams).
"""

from __future__ import annotations

import collections
import functools
import math
import random
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import compress
from operator import attrgetter
from typing import Any

from river.anomaly import HalfSpaceTrees

from detectors.base import Scorer, squash
from detectors.configuration import HSTConfig

_CALIBRATE = 50  # raw scores seen before the calibrated score is trusted
_FEATURE, _THRESHOLD = attrgetter("feature"), attrgetter("threshold")
_L_MASS, _R_MASS = attrgetter("l_mass"), attrgetter("r_mass")


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
        self.model = FlatTrees(
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
        raw = self.model.score_one(x)
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
            self.model.learn_one(x)
            self.learned += 1
        return self.last

    # Checkpoints keep the packed form (depth-first arrays per tree) that the node-object
    # model was pickled as, so checkpoints of either build restore in the other.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["model"] = self.model.pack()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        model = state.get("model")
        if isinstance(model, HalfSpaceTrees):  # older checkpoints hold river's model itself
            model = _pack_river(model)
        if isinstance(model, dict):
            state["model"] = FlatTrees.unpack(model)
        self.__dict__.update(state)


@cache
def _branch_mask(height: int) -> tuple[bool, ...]:
    """Which positions of a full tree of ``height``, depth first, are branches (not leaves)."""
    if height == 0:
        return (False,)
    below = _branch_mask(height - 1)
    return (True, *below, *below)


@dataclass(frozen=True, slots=True)
class _Shape:
    """The splits of a model's trees, shared by every model with the same ones (read-only).

    Per tree: the feature and threshold of each depth-first position (None/0.0 at leaves),
    and the packed arrays (branches only) that checkpoints hold.
    """

    names: list[Any]
    feature_ids: list[array[int]]
    thresholds: list[array[float]]
    features: list[list[Any]]
    splits: list[list[float]]
    rng_state: Any = None  # the generator after river drew these trees (fresh models)


_SHAPES: dict[tuple[Any, ...], _Shape] = {}
_SHAPES_KEPT = 256


def _shape(names: list[Any], feature_ids: list[Any], thresholds: list[Any], height: int) -> _Shape:
    key = (height, tuple(names), *(bytes(a) for a in feature_ids), *(bytes(a) for a in thresholds))
    shape = _SHAPES.get(key)
    if shape is None:
        mask = _branch_mask(height)
        fids = [array("h", f) for f in feature_ids]
        thrs = [array("d", t) for t in thresholds]
        features, splits = [], []
        for f, t in zip(fids, thrs, strict=True):
            fi, ti = iter(f), iter(t)
            features.append([names[next(fi)] if m else None for m in mask])
            splits.append([next(ti) if m else 0.0 for m in mask])
        shape = _Shape(list(names), fids, thrs, features, splits)
        if len(_SHAPES) < _SHAPES_KEPT:
            _SHAPES[key] = shape
    return shape


def _drawn(seed: int, n_trees: int, height: int, keys: tuple[Any, ...]) -> _Shape:
    """The trees river's first ``learn_one`` draws for features ``keys``: river draws them
    (once per seed, size and feature set) and we keep the splits."""
    key = ("drawn", seed, n_trees, height, keys)
    shape = _SHAPES.get(key)
    if shape is None:
        proto = HalfSpaceTrees(n_trees=n_trees, height=height, seed=seed)
        proto.learn_one(dict.fromkeys(keys, 0.5))
        packed = _pack_river(proto)
        trees = packed["trees"]
        base = _shape(packed["features"], [t[0] for t in trees], [t[1] for t in trees], height)
        shape = _Shape(
            base.names,
            base.feature_ids,
            base.thresholds,
            base.features,
            base.splits,
            proto.rng.getstate(),
        )
        if len(_SHAPES) < _SHAPES_KEPT:
            _SHAPES[key] = shape
    return shape


class FlatTrees:
    """river's ``HalfSpaceTrees`` (default limits) with each tree as flat lists.

    The same trees (river draws them from the same seed), the same mass updates, window
    pivots and scores; a tree's nodes are its depth-first positions: the left child of
    position ``i`` at height ``h`` is ``i + 1``, the right one ``i + 2**h``.
    """

    def __init__(self, n_trees: int = 10, height: int = 8, window_size: int = 250,
                 seed: int | None = None) -> None:  # fmt: skip
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.limits: collections.defaultdict[Any, tuple[float, ...]] = collections.defaultdict(
            functools.partial(tuple, (0.0, 1.0))
        )
        self.rng = random.Random(seed)
        self.counter = 0
        self.first_window = True
        self.shape: _Shape | None = None
        self.l_mass: list[list[int]] = []
        self.r_mass: list[list[int]] = []

    def _plant(self, x: Mapping[str, float]) -> None:
        keys = tuple(sorted(x))
        for k in keys:
            _ = self.limits[k]  # river's first learn_one records the limits it used
        if self.seed is None:  # unseeded: draw from this model's own generator, as river does
            proto = HalfSpaceTrees(n_trees=self.n_trees, height=self.height)
            proto.rng = self.rng
            proto.learn_one(dict.fromkeys(keys, 0.5))
            p = _pack_river(proto)
            t = p["trees"]
            shape = _shape(p["features"], [a[0] for a in t], [a[1] for a in t], self.height)
        else:
            shape = _drawn(self.seed, self.n_trees, self.height, keys)
            self.rng.setstate(shape.rng_state)
        self.shape = shape
        size = len(_branch_mask(self.height))
        self.l_mass = [[0] * size for _ in range(self.n_trees)]
        self.r_mass = [[0] * size for _ in range(self.n_trees)]

    def learn_one(self, x: Mapping[str, float]) -> None:
        if self.shape is None:
            self._plant(x)
        assert self.shape is not None
        top = self.height
        for feat, split, lm in zip(
            self.shape.features, self.shape.splits, self.l_mass, strict=True
        ):
            i, h = 0, top
            while h:
                lm[i] += 1
                try:
                    v = x[feat[i]]
                except KeyError:  # river: down the child visited more
                    a, b = i + 1, i + (1 << h)
                    i = b if lm[a] < lm[b] else a
                else:
                    i = i + 1 if v < split[i] else i + (1 << h)
                h -= 1
            lm[i] += 1
        self.counter += 1
        if self.counter == self.window_size:  # pivot: this window's mass is the reference
            self.r_mass = self.l_mass
            self.l_mass = [[0] * len(lm) for lm in self.r_mass]
            self.first_window = False
            self.counter = 0

    def score_one(self, x: Mapping[str, float]) -> float:
        if self.first_window or self.shape is None:
            return 0
        size_limit = 0.1 * self.window_size
        top = self.height
        score = 0.0
        trees = zip(self.shape.features, self.shape.splits, self.l_mass, self.r_mass, strict=True)
        for feat, split, lm, rm in trees:
            i, h, pw, s = 0, top, 1, 0.0
            while h:
                r = rm[i]
                s += r * pw
                if r < size_limit:
                    break
                try:
                    v = x[feat[i]]
                except KeyError:
                    a, b = i + 1, i + (1 << h)
                    i = b if lm[a] < lm[b] else a
                else:
                    i = i + 1 if v < split[i] else i + (1 << h)
                pw <<= 1
                h -= 1
            else:
                s += rm[i] * pw
            score += s
        return 1 - score / (self.n_trees * self.window_size * (2 ** (top + 1) - 1))

    def pack(self) -> dict[str, Any]:
        """The checkpoint form: river's attributes and depth-first arrays per tree."""
        attrs = {
            "n_trees": self.n_trees,
            "window_size": self.window_size,
            "height": self.height,
            "limits": self.limits,
            "seed": self.seed,
            "rng": self.rng,
            "counter": self.counter,
            "_first_window": self.first_window,
        }
        sh = self.shape
        if sh is None:
            return {"attrs": attrs, "features": [], "trees": []}
        trees = [
            (f, t, array("i", lm), array("i", rm))
            for f, t, lm, rm in zip(
                sh.feature_ids, sh.thresholds, self.l_mass, self.r_mass, strict=True
            )
        ]
        return {"attrs": attrs, "features": sh.names, "trees": trees}

    @classmethod
    def unpack(cls, packed: dict[str, Any]) -> FlatTrees:
        a = packed["attrs"]
        model = cls(a["n_trees"], a["height"], a["window_size"], a["seed"])
        model.limits, model.rng = a["limits"], a["rng"]
        model.counter, model.first_window = a["counter"], a["_first_window"]
        trees = packed["trees"]
        if trees:
            model.shape = _shape(
                packed["features"], [t[0] for t in trees], [t[1] for t in trees], model.height
            )
            model.l_mass = [list(t[2]) for t in trees]
            model.r_mass = [list(t[3]) for t in trees]
        return model


def _pack_river(model: HalfSpaceTrees) -> dict[str, Any]:
    """river's model in the packed form: its attributes and each tree as depth-first arrays
    (what checkpoints held before :class:`FlatTrees`)."""
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
