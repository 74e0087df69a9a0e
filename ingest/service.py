"""The ingest worker: MQTT in, validate, batch, commit, then acknowledge.

Threads: paho's network thread only queues messages; a parser thread validates them and
hands batches to the writer thread, which commits and then acknowledges (manual PUBACK).
A QoS 1 message is acknowledged only after its rows (or its dead letter) are committed,
so a crash loses nothing: the broker redelivers whatever was not acknowledged, and the
idempotent write makes the replay a no-op.

Backpressure comes for free from that rule: the broker sends at most its in-flight window
of unacknowledged messages (``max_inflight_messages``), so while the database is slow or
down ingest holds a bounded number of messages and the broker keeps the rest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import paho.mqtt.client as paho
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
)

from forewarn import mqtt, observe
from forewarn.settings import Settings, sparkplug
from ingest import maintenance
from ingest.config import IngestSettings
from ingest.metrics import Metrics, registry
from ingest.sparkplug import SparkplugIntake, SparkplugWriter
from ingest.validate import Accepted, Policy, Rejected, check
from ingest.writer import TRANSIENT, Writer

log = logging.getLogger(__name__)


def _publish(client: paho.Client, topic: str, payload: bytes, qos: int, retain: bool) -> None:
    client.publish(topic, payload, qos=qos, retain=retain)


@dataclass(slots=True)
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    received: float
    session: int  # which connection delivered it: acks on a later one would be wrong


@dataclass(slots=True)
class Batch:
    messages: list[Message]
    items: list[Accepted | Rejected]
    rows: int


class _Stopped(Exception):
    pass


class Ingestor:
    """One ingest worker. ``start()``, then ``stop()`` (or ``run()`` until an event)."""

    def __init__(self, settings: Settings, cfg: IngestSettings, index: int = 0) -> None:
        self.settings = settings
        self.cfg = cfg
        role = f"{cfg.client_name}-{cfg.group or 'solo'}-{index}"
        self.name = mqtt.client_id(settings.mqtt, role, unique=False)
        self.metrics = Metrics(self.name)
        self.index = index
        self.policy = Policy(
            max_future=timedelta(seconds=cfg.max_future_s),
            max_past=timedelta(seconds=cfg.max_past_s),
            max_bytes=cfg.max_payload_bytes,
        )
        # Sparkplug B is another input format: same parser thread, writer and acks. Its
        # seq and alias state need every message of a node in order: worker 0 only.
        spb = sparkplug(settings)
        on = spb.enabled and index == 0
        self.sparkplug = SparkplugIntake(spb, self.policy) if on else None
        self.writer = (SparkplugWriter if self.sparkplug else Writer)(
            settings.database.dsn,
            mode=cfg.write_mode,
            auto_register=cfg.auto_register,
            timeout=settings.database.connect_timeout_s,
        )
        self.inbox: queue.Queue[Message] = queue.Queue(maxsize=cfg.max_pending_messages)
        self.ready: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self.writer_idle = threading.Event()
        self.writer_idle.set()
        self.stopping = threading.Event()
        self.session = 0
        self._session_lock = threading.Lock()
        # Set on the broker's SUBACK: a fresh session holds nothing published before it.
        self.subscribed = threading.Event()
        self._threads: list[threading.Thread] = []
        self.client: paho.Client | None = None
        self._scheduler: Any = None
        self._http: Any = None
        self._last_report = time.monotonic()

    # -- MQTT callbacks (paho's network thread) -----------------------------------------

    def _on_connect(self, client: paho.Client, ud: Any, flags: Any, rc: Any, props: Any) -> None:
        if getattr(rc, "is_failure", False):
            return
        with self._session_lock:
            self.session += 1
        filters = [self.cfg.subscription()]
        if self.sparkplug is not None:  # never shared: seq and aliases need one consumer
            filters += self.sparkplug.filters()
        client.subscribe([(f, 1) for f in filters])
        log.info(
            "%s connected (session %d), subscribed %s",
            self.name,
            self.session,
            self.cfg.subscription(),
        )

    def _on_disconnect(self, client: paho.Client, ud: Any, flags: Any, rc: Any, props: Any) -> None:
        with self._session_lock:
            self.session += 1  # messages of the old session are redelivered; never ack them
        if not self.stopping.is_set():
            log.warning("%s lost the broker (%s); paho reconnects", self.name, rc)

    def _on_message(self, client: paho.Client, ud: Any, msg: paho.MQTTMessage) -> None:
        if self.stopping.is_set():
            return  # not acknowledged: the broker redelivers it to the next session
        self.metrics.got()
        # Blocks when full: bounded memory even if the broker's window is larger.
        self.inbox.put(
            Message(msg.mid, msg.qos, msg.topic, bytes(msg.payload), time.monotonic(), self.session)
        )

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Ingestor:
        dsn = self.settings.database.dsn
        tsl = False
        for attempt in self._retrying():
            with attempt:
                self.writer.connect()
                tsl = maintenance.setup_tsl(dsn, self.cfg)
                if self.sparkplug is not None and isinstance(self.writer, SparkplugWriter):
                    self.sparkplug.restore(self.writer.births())
        self.writer.mark_rollups = not tsl
        if not tsl:
            self._scheduler = maintenance.start_scheduler(dsn, self.cfg)
        self._http = self._probes()
        client = mqtt.paho_client(
            self.settings.mqtt,
            self.name,
            clean_session=not self.cfg.persistent_session,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_: self.subscribed.set()
        self.client = client
        if self.sparkplug is not None:  # rebirth requests (NCMD) and status
            self.sparkplug.publish = partial(_publish, client)
        for target, name in ((self._parse_loop, "parse"), (self._write_loop, "write")):
            t = threading.Thread(target=target, name=f"ingest-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        mqtt.connect_paho(client, self.settings.mqtt)
        # Return only once the broker routes telemetry to us, so that "started" means
        # nothing published from now on can miss this worker, even on its very first run.
        if not self.subscribed.wait(10):
            raise mqtt.unavailable(self.settings.mqtt, "no SUBACK within 10 s")
        return self

    def _probes(self) -> observe.ProbeServer | None:
        """/metrics, /healthz, /readyz: ``ingest.metrics_port`` if set, else ``observe``."""
        reg = registry(self.metrics, self.inbox.qsize)
        checks = {
            "database": observe.database_check(self.settings.database.dsn),
            "broker": observe.broker_check(
                lambda: bool(self.client and self.client.is_connected())
            ),
        }
        if self.cfg.metrics_port is not None:
            host = observe.observe_settings(self.settings).host
            return observe.ProbeServer(reg, checks, host, self.cfg.metrics_port).start()
        return observe.serve(self.settings, "ingest", reg, checks, port_offset=self.index)

    def run(self, until: threading.Event) -> None:
        """Block until ``until`` is set, logging and storing metrics periodically."""
        while not until.wait(timeout=min(1.0, self.cfg.metrics_interval_s)):
            self.report(force=False)
            if not self.stopping.is_set() and not all(t.is_alive() for t in self._threads):
                raise RuntimeError("an ingest thread died; see the log above")

    def report(self, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < self.cfg.metrics_interval_s:
            return
        self._last_report = now
        log.info(self.metrics.line())
        self.metrics.store(self.settings.database.dsn)

    def stop(self, timeout: float = 10.0) -> None:
        """Flush what was received, commit and acknowledge it, then disconnect."""
        self.stopping.set()
        for t in self._threads:
            t.join(timeout)
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._http is not None:
            self._http.stop()
        self.report()
        self.metrics.close()
        self.writer.close()

    # -- parser thread ------------------------------------------------------------------

    def _parse_loop(self) -> None:
        """Validate messages and hand the writer a batch whenever it is free.

        Batches size themselves: while the writer commits, the parser keeps validating
        (up to ``batch_max_rows``), so a backlog makes batches bigger, not later.
        """
        msgs: list[Message] = []
        items: list[Accepted | Rejected] = []
        rows = 0
        while True:
            stopping = self.stopping.is_set()
            try:
                msg = self.inbox.get(timeout=0.002 if msgs else 0.1)
            except queue.Empty:
                msg = None
            if msg is not None:
                msgs.append(msg)
                if self.sparkplug is not None and msg.topic.startswith("spBv1.0/"):
                    new = self.sparkplug.handle(msg.topic, msg.payload)
                elif self.sparkplug is not None and self.sparkplug.echo(msg.topic, msg.payload):
                    new = []  # our own republished Sparkplug batch: its rows are committed
                else:
                    new = [check(msg.topic, msg.payload, self.policy)]
                items.extend(new)
                rows += sum(len(i.rows) for i in new if isinstance(i, Accepted))
            if msgs and (rows >= self.cfg.batch_max_rows or self.writer_idle.is_set() or stopping):
                self.writer_idle.clear()  # the writer has work from now on
                self.ready.put(Batch(msgs, items, rows))
                msgs, items, rows = [], [], 0
            if stopping and msg is None and not msgs:
                self.ready.put(None)
                return

    # -- writer thread ------------------------------------------------------------------

    def _retrying(self) -> Retrying:
        def before_sleep(state: RetryCallState) -> None:
            self.metrics.retried()
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "database unavailable (%s); retry %d in %.1f s",
                str(exc).strip().splitlines()[0] if exc and str(exc).strip() else exc,
                state.attempt_number,
                state.next_action.sleep if state.next_action else 0,
            )

        def give_up(state: RetryCallState) -> bool:  # retry forever, except while stopping
            return self.stopping.is_set() and state.attempt_number > 3

        return Retrying(
            retry=retry_if_exception_type(TRANSIENT),
            wait=wait_exponential(multiplier=0.1, max=self.cfg.retry_max_s),
            stop=give_up,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _write_loop(self) -> None:
        while True:
            batch = self.ready.get()
            if batch is None:
                return
            try:
                self._commit(batch)
            except TRANSIENT as exc:
                # Only while stopping: leave the messages unacknowledged for redelivery.
                log.warning(
                    "giving up a batch of %d messages at stop: %s", len(batch.messages), exc
                )
            finally:
                if self.ready.empty():
                    self.writer_idle.set()

    def _commit(self, batch: Batch) -> None:
        started = time.monotonic()
        for attempt in self._retrying():
            with attempt:
                out, dead = self.writer.write(batch.items)
        done = time.monotonic()
        if self.sparkplug is not None:  # before the acks: a crash here means redelivery
            self.sparkplug.committed(batch.items, dead)
        for r in dead:
            log.info("dead letter from %s: %s", r.topic, r.reason)
        assert self.client is not None
        with self._session_lock:
            session = self.session
        for m in batch.messages:
            if m.qos and m.session == session:
                self.client.ack(m.mid, m.qos)
        lag = done - min(m.received for m in batch.messages)
        self.metrics.committed(
            out, len(batch.messages), done - started, lag, [r.reason for r in dead]
        )
