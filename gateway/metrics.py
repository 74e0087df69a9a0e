"""Prometheus metrics and probes of a gateway, read from its health at scrape time.

Per device: state (one series per state, 1 for the current one), polls, errors, points and
poll duration; per gateway: uplink session, publishes, buffer depth and drops. Readiness is
the uplink's broker session (a gateway has no database).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import prometheus_client.registry
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from forewarn import observe
from forewarn.settings import Settings

if TYPE_CHECKING:
    from gateway.app import Gateway

STATES = ("online", "degraded", "offline")
DEVICE_COUNTERS = {
    "polls": "polls made",
    "poll_errors": "polls or connections that failed, wholly or in part",
    "points": "points read",
    "reconnects": "connections (re)established to the device",
    "overruns": "polls that took longer than the poll period",
}
GATEWAY_COUNTERS = {
    "samples_polled": "samples handed to the buffer (what must arrive)",
    "batches_published": "batches acknowledged by the broker",
    "samples_published": "samples acknowledged by the broker",
    "uplink_connects": "broker sessions established",
    "buffer_dropped_batches": "batches dropped because the buffer was full",
    "buffer_dropped_samples": "samples dropped because the buffer was full",
    "buffer_write_errors": "batches that could not be written to the buffer",
}


class Collector(prometheus_client.registry.Collector):
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def collect(self) -> Iterator[Metric]:
        gw = self.gw
        g = gw.config.gateway
        labels = ["gateway", "device", "asset"]
        state = GaugeMetricFamily(
            "forewarn_gateway_device_state",
            "1 for the device's current state",
            labels=[*labels, "state"],
        )
        counters = {
            k: CounterMetricFamily(f"forewarn_gateway_device_{k}", text, labels=labels)
            for k, text in DEVICE_COUNTERS.items()
        }
        poll = SummaryMetricFamily(
            "forewarn_gateway_poll_seconds", "duration of one poll of a device", labels=labels
        )
        last = GaugeMetricFamily(
            "forewarn_gateway_poll_last_seconds", "duration of the last poll", labels=labels
        )
        for d in list(gw.health.devices.values()):
            key = [g, d.device, d.asset]
            for s in STATES:
                state.add_metric([*key, s], 1.0 if d.state == s else 0.0)
            values = {
                "polls": d.polls,
                "poll_errors": d.errors,
                "points": d.points,
                "reconnects": d.reconnects,
                "overruns": d.overruns,
            }
            for k, fam in counters.items():
                fam.add_metric(key, float(values[k]))
            poll.add_metric(key, count_value=d.polls_timed, sum_value=d.poll_s_sum)
            last.add_metric(key, d.poll_s_last)
        yield from (state, *counters.values(), poll, last)
        up = gw.uplink.connected
        dropped = gw.buffer.dropped()
        depth = gw.buffer.depth()
        values = {
            "samples_polled": gw.batcher.samples_added,
            "batches_published": gw.health.uplink.batches_published,
            "samples_published": gw.health.uplink.samples_published,
            "uplink_connects": gw.health.uplink.connects,
            "buffer_dropped_batches": dropped[0],
            "buffer_dropped_samples": dropped[1],
            "buffer_write_errors": gw.batcher.write_errors,
        }
        for k, text in GATEWAY_COUNTERS.items():
            fam = CounterMetricFamily(f"forewarn_gateway_{k}", text, labels=["gateway"])
            fam.add_metric([g], float(values[k]))
            yield fam
        gauges = {
            "uplink_connected": ("1 while the broker session is up", float(up)),
            "buffer_batches": ("batches waiting for a PUBACK", float(depth[0])),
            "buffer_samples": ("samples waiting for a PUBACK", float(depth[1])),
        }
        for k, (text, value) in gauges.items():
            gauge = GaugeMetricFamily(f"forewarn_gateway_{k}", text, labels=["gateway"])
            gauge.add_metric([g], value)
            yield gauge


def serve(gw: Gateway, settings: Settings) -> observe.ProbeServer | None:
    """Start /metrics, /healthz, /readyz (the broker session) as ``observe`` says."""
    reg = CollectorRegistry()
    reg.register(Collector(gw))
    checks = {"broker": observe.broker_check(lambda: gw.uplink.connected)}
    return observe.serve(settings, "gateway", reg, checks)
