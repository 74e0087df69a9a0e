"""Counters of one ingest worker: logged, stored in ``ingest_metrics``, served to Prometheus."""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

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
    _ms: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conn: psycopg.Connection[Any] | None = None

    def committed(self, out: Outcome, messages: int, seconds: float, lag_s: float) -> None:
        with self._lock:
            self.messages += messages
            self.samples += out.samples
            self.rows_written += out.rows_written
            self.rows_duplicate += out.rows_duplicate
            self.dead_letters += out.dead_letters
            self.batches += 1
            self._ms.append(seconds * 1000)
            self.lag_s = lag_s

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

    def prometheus(self) -> str:
        s = self.snapshot()
        out = []
        for key, (kind, text) in HELP.items():
            name = f"forewarn_ingest_{key}" + ("_total" if kind == "counter" else "")
            value = s[key]
            out.append(f"# HELP {name} {text}\n# TYPE {name} {kind}")
            out.append(f'{name}{{worker="{self.worker}"}} {0 if value is None else value}')
        return "\n".join(out) + "\n"

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


def serve(metrics: Metrics, port: int) -> ThreadingHTTPServer:
    """Serve ``GET /metrics`` in Prometheus text format on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.rstrip("/") not in ("/metrics", ""):
                self.send_error(404)
                return
            body = metrics.prometheus().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="ingest-metrics", daemon=True).start()
    return server
