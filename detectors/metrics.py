"""Prometheus metrics and probes of a detector worker, read from its state at scrape time.

Lag is what an operator of streaming detectors watches: the time of the newest sample
scored (against the wall clock, it says how far behind the worker is) and the inbox depth
(messages received and not yet scored).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import prometheus_client.registry
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from forewarn import observe

if TYPE_CHECKING:
    from detectors.service import DetectorService

COUNTERS = {
    "batches": "telemetry messages scored",
    "samples": "samples scored",
    "events": "anomaly events published",
    "rejected": "messages outside the contract (ingest keeps their dead letters)",
    "foreign": "messages for assets another worker owns",
}


class Collector(prometheus_client.registry.Collector):
    def __init__(self, svc: DetectorService) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        svc = self.svc
        worker = [svc.worker]
        for key, text in COUNTERS.items():
            fam = CounterMetricFamily(f"forewarn_detectors_{key}", text, labels=["worker"])
            fam.add_metric(worker, float(svc.counts.get(key, 0)))
            yield fam
        gauges = {
            "inbox_depth": (
                "messages received and not yet scored",
                svc.inbox.qsize() + len(svc.held),
            ),
            "assets": ("assets with a model in this worker", len(svc.detectors)),
            "last_scored_timestamp_seconds": (
                "time of the newest sample scored (unix seconds; 0 before the first)",
                svc.last_scored,
            ),
        }
        for key, (text, value) in gauges.items():
            gauge = GaugeMetricFamily(f"forewarn_detectors_{key}", text, labels=["worker"])
            gauge.add_metric(worker, float(value))
            yield gauge


def serve(svc: DetectorService) -> observe.ProbeServer | None:
    """Start /metrics, /healthz, /readyz (database and broker) as ``observe`` says."""
    reg = CollectorRegistry()
    reg.register(Collector(svc))
    checks = {
        "database": observe.database_check(svc.settings.database.dsn),
        "broker": observe.broker_check(svc.connected),
    }
    return observe.serve(svc.settings, "detectors", reg, checks)
