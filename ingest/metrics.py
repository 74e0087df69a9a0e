"""Counters of one ingest worker: logged, stored in ``ingest_metrics``, served to Prometheus
(through :mod:`forewarn.observe`, read at scrape time by :class:`Collector`)."""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import prometheus_client.registry
import psycopg
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from forewarn import db as fdb
from forewarn.errors import ServiceUnavailable
from ingest.writer import Outcome

log = logging.getLogger(__name__)

STORE = """
INSERT INTO ingest_metrics (worker, started_at, updated_at, messages, samples, rows_written,
    rows_duplicate, dead_letters, batches, db_retries, batch_ms_p50, batch_ms_max, lag_s, pending)
VALUES (%(worker)s, to_timestamp(%(started)s), now(), %(messages)s, %(samples)s,
    %(rows_written)s, %(rows_duplicate)s, %(dead_letters)s, %(batches)s, %(db_retries)s,
    %(batch_ms_p50)s, %(batch_ms_max)s, %(lag_s)s, %(pending)s)
ON CONFLICT (worker) DO UPDATE SET started_at = excluded.started_at,
    updated_at = excluded.updated_at, messages = excluded.messages, samples = excluded.samples,
    rows_written = excluded.rows_written, rows_duplicate = excluded.rows_duplicate,
    dead_letters = excluded.dead_letters, batches = excluded.batches,
    db_retries = excluded.db_retries, batch_ms_p50 = excluded.batch_ms_p50,
    batch_ms_max = excluded.batch_ms_max, lag_s = excluded.lag_s, pending = excluded.pending
"""

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, math.inf)
HELP = {
    "messages": ("counter", "MQTT messages committed (valid or dead-lettered)"),
    "samples": ("counter", "valid samples committed"),
    "rows_written": ("counter", "telemetry rows inserted"),
    "rows_duplicate": ("counter", "telemetry rows skipped as already stored (replays)"),
    "dead_letters": ("counter", "payloads sent to the dead-letter table"),
    "batches": ("counter", "batches committed"),
    "db_retries": ("counter", "batch commits retried after a database error"),
    "batch_ms_p50": ("gauge", "median batch commit time over the last 200 batches, ms"),
    "batch_ms_max": ("gauge", "slowest batch commit over the last 200 batches, ms"),
    "lag_s": ("gauge", "receipt-to-commit time of the oldest message in the last batch, s"),
    "received": ("counter", "MQTT messages received (redeliveries included)"),
    "pending": ("gauge", "messages received and not yet committed (held in memory)"),
}


@dataclass
class Metrics:
    worker: str
    started: float = field(default_factory=time.time)
    messages: int = 0
    samples: int = 0
    rows_written: int = 0
    rows_duplicate: int = 0
    dead_letters: int = 0
    batches: int = 0
    db_retries: int = 0
    lag_s: float = 0.0
    received: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    _sizes: list[int] = field(default_factory=lambda: [0] * len(BATCH_BUCKETS))
    _size_sum: int = 0
    _ms: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conn: psycopg.Connection[Any] | None = None

    def committed(
        self,
        out: Outcome,
        messages: int,
        seconds: float,
        lag_s: float,
        reasons: list[str] | None = None,
    ) -> None:
        with self._lock:
            for reason in reasons or ():
                cls = reason_class(reason)
                self.reasons[cls] = self.reasons.get(cls, 0) + 1
            self._size_sum += messages
            for i, bound in enumerate(BATCH_BUCKETS):
                if messages <= bound:
                    self._sizes[i] += 1
            self.messages += messages
            self.samples += out.samples
            self.rows_written += out.rows_written
            self.rows_duplicate += out.rows_duplicate
            self.dead_letters += out.dead_letters
            self.batches += 1
            self._ms.append(seconds * 1000)
            self.lag_s = lag_s

    def batch_histogram(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` buckets and the sum, as Prometheus wants them."""
        with self._lock:
            return [
                ("+Inf" if b == math.inf else str(int(b)), float(n))
                for b, n in zip(BATCH_BUCKETS, self._sizes, strict=True)
            ], float(self._size_sum)

    def got(self) -> None:
        with self._lock:
            self.received += 1

    def retried(self) -> None:
        with self._lock:
            self.db_retries += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            ms = list(self._ms)
            return {
                "worker": self.worker,
                "started": self.started,
                "messages": self.messages,
                "samples": self.samples,
                "rows_written": self.rows_written,
                "rows_duplicate": self.rows_duplicate,
                "dead_letters": self.dead_letters,
                "batches": self.batches,
                "db_retries": self.db_retries,
                "batch_ms_p50": statistics.median(ms) if ms else None,
                "batch_ms_max": max(ms) if ms else None,
                "lag_s": self.lag_s,
                "received": self.received,
                "pending": self.received - self.messages,
            }

    def line(self) -> str:
        s = self.snapshot()
        p50 = s["batch_ms_p50"]
        return (
            f"ingest {s['worker']}: {s['messages']} msgs, {s['samples']} samples, "
            f"{s['rows_written']} rows (+{s['rows_duplicate']} dup), {s['dead_letters']} dead, "
            f"{s['batches']} batches p50 {p50 or 0:.1f} ms, lag {s['lag_s']:.2f} s, "
            f"pending {s['pending']}, db retries {s['db_retries']}"
        )

    def store(self, dsn: str) -> None:
        """Upsert this worker's row; a database outage only skips one report."""
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = fdb.connect(dsn, autocommit=True, timeout=2)
            self._conn.execute(STORE, self.snapshot())
        except (psycopg.Error, ServiceUnavailable) as exc:
            log.warning("metrics not stored: %s", exc)
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def reason_class(reason: str) -> str:
    """A dead letter's reason reduced to a few label values (a reason itself is unbounded)."""
    text = reason.lower()
    for cls, marks in REASON_CLASSES:
        if any(m in text for m in marks):
            return cls
    return "schema"  # pydantic's field errors: "samples.0.ts: ..."


REASON_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("size", ("larger than the limit",)),
    ("asset_mismatch", ("does not match",)),  # before "topic": its text names the topic
    ("topic", ("topic",)),
    ("json", ("not json", "must be a json object")),
    ("version", ("contract version",)),
    ("time", ("in the future", "older than the accepted")),
    ("unknown_asset", ("unknown asset",)),
    ("database", ("database refused",)),
    ("sparkplug", ("sparkplug", "alias", "birth", "seq")),
    ("internal", ("unexpected ",)),
)


class Collector(prometheus_client.registry.Collector):
    """The worker's counters, read at scrape time (no second set of books to keep)."""

    def __init__(self, metrics: Metrics, inbox: Callable[[], int]) -> None:
        self.metrics = metrics
        self.inbox = inbox

    def collect(self) -> Iterator[Metric]:
        s = self.metrics.snapshot()
        worker = [self.metrics.worker]
        for key, (kind, text) in HELP.items():
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            fam = family(f"forewarn_ingest_{key}", text, labels=["worker"])
            fam.add_metric(worker, float(s[key] or 0))
            yield fam
        depth = GaugeMetricFamily(
            "forewarn_ingest_inbox_depth", "messages waiting to be parsed", labels=["worker"]
        )
        depth.add_metric(worker, float(self.inbox()))
        yield depth
        reasons = CounterMetricFamily(
            "forewarn_ingest_dead_letter_reasons",
            "dead letters by reason class",
            labels=["worker", "reason"],
        )
        for cls, n in sorted(self.metrics.reasons.items()):
            reasons.add_metric([*worker, cls], float(n))
        yield reasons
        sizes = HistogramMetricFamily(
            "forewarn_ingest_batch_messages",
            "messages per committed batch",
            labels=["worker"],
        )
        buckets, total = self.metrics.batch_histogram()
        sizes.add_metric(worker, buckets, total)
        yield sizes


def registry(metrics: Metrics, inbox: Callable[[], int]) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(Collector(metrics, inbox))
    return reg
