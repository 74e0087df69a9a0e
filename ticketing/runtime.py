"""What the ticketing app runs beside its routes, typed in one place: the connection pool,
the SLA monitor, the webhook and notification senders, the MQTT consumer and publisher, and
the scheduler that drives the timers.

:meth:`Runtime.start` runs at the app's start-up (an SLA scan first, so deadlines that
passed while the service was down are handled at once); :meth:`Runtime.stop` undoes what
started, in reverse, also after a start that failed half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from forewarn.settings import Settings
from ticketing import notifications
from ticketing.clock import Clock
from ticketing.config import TicketingSettings
from ticketing.notifications import Job
from ticketing.notify import MqttPublisher, WebhookSender
from ticketing.sla import SlaMonitor
from ticketing.store import Options, Store

log = logging.getLogger("ticketing")


@dataclass
class Runtime:
    settings: Settings
    cfg: TicketingSettings
    store: Store
    sla: SlaMonitor
    webhooks: WebhookSender
    notifier: notifications.NotificationSender
    people_jobs: list[Job]  # notifications' jobs
    mqtt: bool  # consume anomalies and publish ticket events
    background: bool  # run the timers (tests drive them by hand with a manual clock)
    jobs: list[Job] = field(default_factory=list)  # feature modules': a first pass at start
    publisher: Any = None  # the paho client while MQTT runs (``/readyz`` checks its session)
    mqtt_ready: asyncio.Event | None = None  # set once the consumer has subscribed
    _consumer: asyncio.Task[None] | None = None
    _listener: MqttPublisher | None = None
    _scheduler: BackgroundScheduler | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        cfg: TicketingSettings,
        clock: Clock,
        *,
        background: bool,
        mqtt: bool,
    ) -> Runtime:
        store = Store(
            settings.database.dsn,
            clock,
            min_size=cfg.pool_min,
            max_size=max(cfg.pool_min, cfg.pool_max),
            options=Options(distance_scale_km=cfg.distance_scale_km),
        )
        webhooks = WebhookSender(
            store,
            max_attempts=cfg.webhook_max_attempts,
            backoff_s=cfg.webhook_backoff_s,
            timeout_s=cfg.webhook_timeout_s,
            allow_private=cfg.webhook_allow_private,
        )
        notifier, people_jobs = notifications.install(store, settings)
        return cls(
            settings,
            cfg,
            store,
            SlaMonitor(store),
            webhooks,
            notifier,
            people_jobs,
            mqtt=mqtt,
            background=background,
        )

    def expire_keys(self) -> None:
        """Idempotency keys replay for ``idempotency_ttl_h``; then they are forgotten."""
        ttl = timedelta(hours=self.cfg.idempotency_ttl_h)
        self.store.run(
            lambda tx: tx.conn.execute(
                "delete from idempotency_keys where created_at < %s", (tx.now - ttl,)
            )
        )

    async def start(self) -> None:
        await asyncio.to_thread(self.store.open)
        self.webhooks.open()
        handled = await asyncio.to_thread(self.sla.scan)
        if handled:
            log.info("start-up SLA scan handled %d due deadline(s)", len(handled))
        if self.mqtt:
            self._start_mqtt()
        if self.background:
            self._scheduler = self._schedule()
            self._scheduler.start()

    def _start_mqtt(self) -> None:
        from ticketing.consumer import consume, publisher_client

        self.publisher = publisher_client(self.settings.mqtt)
        self._listener = MqttPublisher(self.publisher)
        self.store.listeners.append(self._listener)
        self.mqtt_ready = asyncio.Event()
        self._consumer = asyncio.create_task(
            consume(
                self.store,
                self.settings.mqtt,
                group=self.cfg.mqtt_group,
                ready=self.mqtt_ready,
                max_bytes=self.cfg.max_body_bytes,
            )
        )

    def _schedule(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(timezone="UTC")
        once = {"max_instances": 1, "coalesce": True}
        cfg = self.cfg
        scheduler.add_job(
            self.sla.scan, "interval", seconds=cfg.sla_scan_interval_s, id="sla", **once
        )
        scheduler.add_job(
            self.webhooks.deliver_due,
            "interval",
            seconds=cfg.webhook_interval_s,
            id="webhooks",
            **once,
        )
        scheduler.add_job(self.expire_keys, "interval", minutes=30, id="idempotency", **once)
        for job_id, fn, seconds in self.jobs:
            scheduler.add_job(
                fn, "interval", seconds=seconds, id=job_id, next_run_time=datetime.now(UTC), **once
            )
        for job_id, fn, seconds in self.people_jobs:
            scheduler.add_job(fn, "interval", seconds=seconds, id=job_id, **once)
        return scheduler

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None
        if self._listener is not None:
            self.store.listeners.remove(self._listener)
            self._listener = None
        if self.publisher is not None:
            publisher, self.publisher = self.publisher, None
            publisher.disconnect()
            publisher.loop_stop()
        self.webhooks.close()
        await asyncio.to_thread(self.store.close)
