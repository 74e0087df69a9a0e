"""TreeScorer checkpoints: packed trees resume identically, and old checkpoints still load."""

from __future__ import annotations

import pickle
import random

from detectors.configuration import HSTConfig
from detectors.hst import TreeScorer


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
    legacy = pickle.dumps(dict(live.__dict__), protocol=pickle.HIGHEST_PROTOCOL)
    assert len(blob) < len(legacy) / 1.5, (len(blob), len(legacy))


def test_checkpoint_pickled_with_the_model_object_still_loads() -> None:
    """Checkpoints written before packing hold river's model itself."""
    xs = _stream(800, 2)
    live = TreeScorer(HSTConfig(every=1, window_size=100))
    for x in xs[:400]:
        live.update_one(x)
    old = TreeScorer.__new__(TreeScorer)
    old.__setstate__(pickle.loads(pickle.dumps(dict(live.__dict__))))
    assert [live.update_one(x) for x in xs[400:]] == [old.update_one(x) for x in xs[400:]]


def test_untrained_scorer_round_trips() -> None:
    fresh = pickle.loads(pickle.dumps(TreeScorer(HSTConfig(every=1, window_size=50))))
    scores = [fresh.update_one(x) for x in _stream(300, 3)]
    assert len(scores) == 300 and all(0.0 <= s <= 1.0 for s in scores)
