"""Batches a worker republished as v1 JSON, so it can drop them when they come back."""

from __future__ import annotations

import threading

MAX_ECHOES = 20_000  # republished batches awaiting their echo


def _key(topic: str, raw: bytes) -> tuple[str, int, int]:
    return topic, len(raw), hash(raw)  # SipHash: a false match is a 2**-64 event


class Echoes:
    """A bounded, thread-safe set of (topic, size, hash): the writer adds, the parser takes.

    Hashes, not payloads: a worker that never hears its echoes (its JSON filter does not
    cover the site) holds kilobytes, not gigabytes; the oldest entries go first.
    """

    def __init__(self, limit: int = MAX_ECHOES) -> None:
        self.limit = limit
        self._seen: dict[tuple[str, int, int], None] = {}  # ordered by insertion
        self._lock = threading.Lock()

    def add(self, topic: str, raw: bytes) -> None:
        with self._lock:
            self._seen[_key(topic, raw)] = None
            while len(self._seen) > self.limit:
                del self._seen[next(iter(self._seen))]

    def take(self, topic: str, raw: bytes) -> bool:
        """True once for a message that was added; False for anything else."""
        with self._lock:
            return self._seen.pop(_key(topic, raw), False) is None
