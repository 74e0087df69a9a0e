"""``/healthz``, ``/readyz`` and ``/metrics`` of the ticketing app, without a token.

Probes and scrapers hold no token, and these answers carry no ticket data: counts only.
SLA timers and webhook outcomes are read from the database at scrape time (they live
there, so every replica reports the same truth); ticket events are counted as committed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import prometheus_client.registry
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from forewarn import db as fdb
from forewarn import observe
from ticketing.lifecycle import CLOSED_STATES
from ticketing.store import Emitted

router = APIRouter(tags=["health"])
PUBLIC = {"x-roles": ["public"]}

# One scan of the tickets table: open tickets, running SLA timers and breaches.
TICKETS = """
select priority,
       count(*) filter (where state <> all(%(closed)s)),
       count(*) filter (where state <> all(%(closed)s) and response_due is not null
                        and acknowledged_at is null and response_breached_at is null),
       count(*) filter (where state <> all(%(closed)s) and resolution_due is not null
                        and resolution_breached_at is null),
       count(*) filter (where state <> all(%(closed)s) and (response_breached_at is not null
                        or resolution_breached_at is not null)),
       count(*) filter (where response_breached_at is not null),
       count(*) filter (where resolution_breached_at is not null)
from tickets group by priority
"""
WEBHOOKS = "select status, count(*) from webhook_deliveries group by status"
DEAD = "select count(*) from dead_letters where service = 'ticketing'"


class EventCounter:
    """A store listener: committed ticket events by type (what goes out on MQTT/webhooks)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, emitted: list[Emitted]) -> None:
        with self.lock:
            self.counts.update(e.event_type for e in emitted)


class Collector(prometheus_client.registry.Collector):
    def __init__(self, dsn: str, events: EventCounter) -> None:
        self.dsn = dsn
        self.events = events

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "forewarn_ticketing_events", "ticket events committed", labels=["event"]
        )
        with self.events.lock:
            for name, n in sorted(self.events.counts.items()):
                events.add_metric([name], float(n))
        yield events
        up = GaugeMetricFamily("forewarn_ticketing_database_up", "1 if the scrape read the DB")
        try:
            yield from self._database()
            up.add_metric([], 1.0)
        except Exception:  # a scrape during an outage still answers, with up = 0
            up.add_metric([], 0.0)
        yield up

    def _database(self) -> Iterator[Metric]:
        with fdb.connect(self.dsn, autocommit=True, timeout=2) as conn:
            rows = conn.execute(TICKETS, {"closed": sorted(CLOSED_STATES)}).fetchall()
            hooks = conn.execute(WEBHOOKS).fetchall()
            dead = conn.execute(DEAD).fetchone()
        n_open = GaugeMetricFamily(
            "forewarn_ticketing_tickets_open", "open tickets", labels=["priority"]
        )
        timers = GaugeMetricFamily(
            "forewarn_ticketing_sla_timers_running",
            "SLA deadlines running (not met, not breached) on open tickets",
            labels=["priority", "kind"],
        )
        breached = GaugeMetricFamily(
            "forewarn_ticketing_sla_breached_open",
            "open tickets with a breached SLA deadline",
            labels=["priority"],
        )
        breaches = CounterMetricFamily(
            "forewarn_ticketing_sla_breaches",
            "SLA deadlines breached, ever",
            labels=["priority", "kind"],
        )
        for prio, opened, resp, resol, late, resp_b, resol_b in rows:
            n_open.add_metric([prio], float(opened))
            timers.add_metric([prio, "response"], float(resp))
            timers.add_metric([prio, "resolution"], float(resol))
            breached.add_metric([prio], float(late))
            breaches.add_metric([prio, "response"], float(resp_b))
            breaches.add_metric([prio, "resolution"], float(resol_b))
        yield from (n_open, timers, breached, breaches)
        hook = GaugeMetricFamily(
            "forewarn_ticketing_webhook_deliveries",
            "webhook deliveries by outcome (pending, delivered, failed)",
            labels=["status"],
        )
        outcomes = {"pending": 0, "delivered": 0, "failed": 0}  # a zero is a series too
        outcomes.update({str(status): int(n) for status, n in hooks})
        for status, n in outcomes.items():
            hook.add_metric([status], float(n))
        yield hook
        dl = CounterMetricFamily(
            "forewarn_ticketing_dead_letters", "anomaly messages ticketing refused or failed"
        )
        dl.add_metric([], float(dead[0] if dead else 0))
        yield dl


def install(app: Any, dsn: str) -> None:
    """Count the store's events and build the registry that ``/metrics`` serves."""
    events = EventCounter()
    app.state.store.listeners.append(events)
    registry = CollectorRegistry()
    registry.register(Collector(dsn, events))
    app.state.metrics = registry


def _checks(request: Request) -> dict[str, observe.Check]:
    state = request.app.state
    checks = {"database": observe.database_check(state.store.dsn)}
    publisher = state.runtime.publisher
    if publisher is not None:
        checks["broker"] = observe.broker_check(publisher.is_connected)
    return checks


@router.get("/healthz", openapi_extra=PUBLIC)
def healthz() -> dict[str, str]:
    """Liveness: the process serves requests (no token, no database)."""
    return {"status": "ok"}


@router.get("/readyz", openapi_extra=PUBLIC, responses={503: {"description": "not ready"}})
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers and (with MQTT on) the broker session is up."""
    ok, detail = await asyncio.to_thread(observe.readiness, _checks(request))
    body = {"status": "ok" if ok else "unready", "checks": detail}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", openapi_extra=PUBLIC, response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    body = await asyncio.to_thread(generate_latest, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
