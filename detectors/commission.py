"""Commissioning that covers a day: the provisional reference grows on healthy rows.

Why: a reference learned over the warm-up (300 samples, five hours at one a minute) has not
seen the daily cycle (ambient, and the temperatures that follow it) nor most load levels, so
the first warm afternoon or the first new load level looks like a fault. Waiting a whole day
before any alarm would leave a new asset unwatched that long. So alarms start after the
warm-up against a provisional reference, and the reference is re-learned from every row so
far each time they grew by ``commission_grow`` (a tenth: an ambient that rises all afternoon
is followed before it alarms), from rows scored while no alarm is open and within a few
healthy limits, until it spans ``commission_h`` hours or ``commission_rows`` rows; then it is
frozen for good.

The price is bounded: a fault that develops during the first day without alarming can be
partly learned as healthy; one that alarms is not. A day that ends in alarm is judged whole
(detector 2.11): the rows that alarmed are kept aside, and the final reference is learned
from every row of the day unless a relation sits apart between them and the rest
(``commission_shift``, detectors/asset.py): a first afternoon cooler than the warm-up's once
alarmed on a healthy pump for the rest of its life. ``commission_rows`` at or below the
warm-up turns the growth off (``forewarn replay --warmup N`` does: the reference is then
exactly the first N rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from detectors.configuration import HealthConfig


class Commissioning:
    """Rows of the commissioning so far, and when the reference should be re-learned from them.

    >>> from detectors.configuration import HealthConfig
    >>> com = Commissioning(HealthConfig(commission_rows=200, commission_grow=0.5), warmup=20)
    >>> com.start([{"a": float(i)} for i in range(20)], [60.0 * i for i in range(20)])
    >>> [i for i in range(20, 260) if com.offer(60.0 * i, {"a": float(i)}, healthy=True)]
    [29, 44, 66, 99, 149, 199]
    >>> com.active, com.table().shape
    (False, (200, 1))
    """

    def __init__(self, cfg: HealthConfig, warmup: int) -> None:
        self.target_rows = cfg.commission_rows
        self.target_s = cfg.commission_h * 3600.0
        self.grow = cfg.commission_grow
        self.active = cfg.commission_rows > warmup
        self.names: list[str] = []
        self.data = np.zeros((0, 0))
        self.times: list[float] = []
        self.n = 0  # healthy rows: what the growth counts
        self.m = 0  # every row kept, the alarm's too
        self.next = 0
        self.ok = np.zeros(0, dtype=bool)  # which of them were healthy
        self.whole = False  # it ended unhealthy: the last re-fit may be of every row

    def start(self, rows: Sequence[Mapping[str, float]], times: Sequence[float]) -> None:
        """The provisional reference was learned from these rows: grow from them."""
        if not self.active or not rows:
            self.active = False
            return
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        self.names = list(seen)
        self.data = np.full((max(1, len(rows)), len(self.names)), np.nan)
        self.n = 0
        self.m = 0
        self.times = []
        self.ok = np.zeros(len(self.data), dtype=bool)
        for t, r in zip(times, rows, strict=True):
            self._add(t, r)
        self.next = self._after(self.n)

    def offer(self, t: float, x: Mapping[str, float], *, healthy: bool) -> bool:
        """Keep a row, marked healthy or not; True when the reference should be re-learned
        now (the last time when the commissioning is complete, after which it is inactive:
        :attr:`whole` if it ended in alarm)."""
        if not self.active:
            return False
        done = self.n >= self.target_rows or bool(self.times and t - self.times[0] >= self.target_s)
        if not done and (healthy or self.m - self.n < self.target_rows):  # bounded aside
            self._add(t, x, healthy)
            done = self.n >= self.target_rows or t - self.times[0] >= self.target_s
        if done:
            self.active = False
            if not healthy and self.m > self.n:
                self.whole = True
                return True
            return healthy  # an asset in alarm at the end keeps the reference it has
        if healthy and self.n >= self.next:
            self.next = self._after(self.n)
            return True
        return False

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["data"] = self.data[: self.m].copy()  # not the unused room
        state["ok"] = self.ok[: self.m].copy()
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        if "ok" not in state:  # checkpointed before 2.11: it kept healthy rows only
            n = int(state["n"])  # type: ignore[call-overload]
            state.update(m=n, ok=np.ones(n, dtype=bool), whole=False)
        self.__dict__.update(state)

    def _after(self, n: int) -> int:
        return min(max(n + 1, int(n * (1 + self.grow))), self.target_rows)

    def _used(self) -> np.ndarray:
        """Which rows a re-fit learns: the healthy ones, or all when :attr:`whole`."""
        return np.ones(self.m, dtype=bool) if self.whole else self.ok[: self.m]

    def table(self) -> np.ndarray:
        """The rows kept, a column per name of :attr:`names` (NaN where one was missing)."""
        return self.data[: self.m][self._used()]

    def stamps(self) -> list[float]:
        """The times of :meth:`table`'s rows."""
        return [t for t, k in zip(self.times, self._used(), strict=True) if k]

    def release(self) -> None:
        """The rows are no longer needed (the reference is final)."""
        self.data = np.zeros((0, 0))
        self.ok = np.zeros(0, dtype=bool)
        self.times = self.times[:1]

    def _add(self, t: float, x: Mapping[str, float], healthy: bool = True) -> None:
        if self.m >= len(self.data):  # grown by doubling: a checkpoint holds what was seen
            room = min(len(self.data), 2 * self.target_rows - self.m)
            more = np.full((max(1, room), len(self.names)), np.nan)
            self.data = np.vstack([self.data, more])
            self.ok = np.concatenate([self.ok, np.zeros(len(more), dtype=bool)])
        self.data[self.m] = [x.get(k, np.nan) for k in self.names]
        self.ok[self.m] = healthy
        self.times.append(t)
        self.m += 1
        self.n += healthy
