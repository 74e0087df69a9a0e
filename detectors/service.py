"""The live detector service: telemetry in over MQTT, anomaly events out, state in the DB.

One worker owns a set of assets. Ownership is either a static partition
(``crc32(asset) % partitions == partition``, from settings) or the broker's: with
``shared_group`` set the worker joins a shared subscription, which keeps per-asset state
correct only on a broker that hashes by topic (EMQX ``hash_topic``, HiveMQ, VerneMQ); on
plain Mosquitto use static partitions. Either way the model of an asset is checkpointed to
the database every ``checkpoint_every_s`` and on shutdown, so any worker resumes it without
a new warm-up.

Threads: paho's network thread only enqueues messages; one processing thread owns every
detector (scoring, publishing, checkpoints, feedback), so no model is touched concurrently.

Delivery: telemetry arrives at QoS 1 on a persistent session (a stable client id, see
:meth:`DetectorService.session_id`), and a message is acknowledged only after its samples
are scored and its events stored, so samples published while the worker is down or dead are
delivered when it returns. A sample acknowledged but not yet checkpointed when the worker
dies is not lost either: on start the worker scores what ingest stored after each owned
asset's checkpoint (:meth:`DetectorService.catch_up`) before it takes new messages. The
preprocessor drops timestamps it has already seen, so a sample that comes both ways is
scored once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as paho
import psycopg
from pydantic import Field, model_validator
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from detectors import catchup, store
from detectors.asset import AssetDetector
from detectors.configuration import DetectorConfig, load_config
from forewarn import db as fdb
from forewarn import mqtt as fmqtt
from forewarn.contract import AnomalyEvent, decode_message, encode, topics
from forewarn.errors import ContractError, ServiceUnavailable
from forewarn.settings import Section, Settings

log = logging.getLogger("forewarn.detectors")
T = TypeVar("T")
# Connection trouble, worth a retry on a new connection (as ingest's writer says).
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, ServiceUnavailable)
ACK_BATCH = 50  # messages scored before their acks are sent (at most; fewer when idle)


class DetectorsSettings(Section):
    """The ``detectors:`` section of forewarn.yaml."""

    config: str | None = Field(default=None, description="detector YAML (shipped default)")
    site: str = Field(default="+", description="site to consume, '+' for all")
    partition: int = Field(default=0, ge=0)
    partitions: int = Field(default=1, ge=1, le=4096)
    shared_group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    checkpoint_every_s: float = Field(default=60.0, gt=0)
    feedback_poll_s: float = Field(default=10.0, gt=0)
    queue_max: int = Field(default=10_000, ge=10)
    worker: str | None = Field(default=None, description="name in checkpoints (default host-pid)")
    persistent_session: bool = Field(
        default=True, description="keep the MQTT session (queued telemetry) across restarts"
    )
    catchup_max_samples: int = Field(
        default=100_000, ge=0, description="per asset, stored samples scored on start (0: off)"
    )

    @model_validator(mode="after")
    def _partition(self) -> DetectorsSettings:
        if self.partition >= self.partitions:
            raise ValueError("partition must be below partitions")
        return self


@dataclass(slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    session: int


class DetectorService:
    """Consume telemetry, score per asset, publish and store events, checkpoint state."""

    def __init__(self, settings: Settings, section: DetectorsSettings) -> None:
        self.settings = settings
        self.section = section
        self.config: DetectorConfig = load_config(Path(section.config) if section.config else None)
        self.worker = section.worker or f"{socket.gethostname()}-{os.getpid()}"
        self.detectors: dict[str, AssetDetector] = {}
        self.dirty: set[str] = set()
        self.inbox: queue.Queue[Inbound] = queue.Queue(section.queue_max)
        self.held: deque[Inbound] = deque()  # taken from the inbox while awaiting a PUBACK
        self.session = 0  # bumped on every (dis)connect: an ack on a later session is wrong
        self._session_lock = threading.Lock()
        self.stopping = threading.Event()
        self.counts = dict.fromkeys(
            ("batches", "samples", "events", "rejected", "foreign", "caught_up"), 0
        )
        self.last_scored = 0.0  # unix time of the newest sample scored: lag, for /metrics
        self._thread: threading.Thread | None = None
        self._client: paho.Client | None = None
        self._conn: Any = None

    # -- ownership -----------------------------------------------------------------------
    def owns(self, asset: str) -> bool:
        s = self.section
        return (
            s.shared_group is not None or zlib.crc32(asset.encode()) % s.partitions == s.partition
        )

    def subscription(self) -> str:
        flt = f"{topics.ROOT}/{self.section.site}/+/telemetry"
        if self.section.shared_group:
            return topics.shared(self.section.shared_group, flt)
        return flt

    def session_id(self) -> str:
        """The MQTT client id: stable across restarts, so the broker keeps the session.

        ``worker`` names it when set; else the static partition (and site) does. Workers
        of a shared group need a ``worker`` name each (two with one id would kick each
        other off); without one they get a per-process id and a clean session.
        """
        s = self.section
        if s.worker:
            name = s.worker
        elif s.shared_group:
            return fmqtt.client_id(self.settings.mqtt, f"detectors-{self.worker}")
        else:
            site = "all" if s.site == "+" else s.site
            name = f"{site}-p{s.partition}of{s.partitions}"
        return fmqtt.client_id(self.settings.mqtt, f"detectors-{name}", unique=False)

    def persistent(self) -> bool:
        s = self.section
        return s.persistent_session and not (s.shared_group and not s.worker)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._conn = fdb.connect(self.settings.database.dsn, autocommit=True)
        ident = self.session_id()
        client = fmqtt.paho_client(
            self.settings.mqtt,
            ident,
            clean_session=not self.persistent(),
            manual_ack=True,
        )

        def on_connect(c: paho.Client, ud: Any, flags: Any, rc: Any, props: Any = None) -> None:
            if getattr(rc, "is_failure", False):
                return
            with self._session_lock:
                self.session += 1
            c.subscribe(self.subscription(), qos=1)  # again after every reconnect

        def on_disconnect(c: paho.Client, ud: Any, flags: Any, rc: Any, props: Any = None) -> None:
            with self._session_lock:
                self.session += 1  # unacknowledged messages come again on the next session

        subscribed = threading.Event()

        def on_subscribe(c: paho.Client, *args: Any) -> None:
            subscribed.set()

        def on_message(c: paho.Client, ud: Any, msg: paho.MQTTMessage) -> None:
            if self.stopping.is_set():
                return  # not acknowledged: redelivered to the next session
            # blocks when full: back-pressure (while the processing thread awaits an event's
            # PUBACK it takes messages aside instead, so this thread can read that PUBACK)
            self.inbox.put(Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self.session))

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        client.on_subscribe = on_subscribe
        self._client = client
        fmqtt.connect_paho(client, self.settings.mqtt)
        # a new session has no subscription until the broker acknowledges it: telemetry
        # published before that would never reach this worker, so do not claim to be ready
        if not subscribed.wait(10):
            log.warning("detectors worker %s: no SUBACK within 10 s", self.worker)
        # The processing thread first catches up from the hypertable (its events go out on
        # the connection just made), then takes the messages queued meanwhile.
        self._thread = threading.Thread(target=self._run, name="detectors", daemon=True)
        self._thread.start()
        log.info(
            "detectors worker %s subscribed to %s (session %s, %s)",
            self.worker,
            self.subscription(),
            ident,
            "persistent" if self.persistent() else "clean",
        )

    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    def stop(self) -> None:
        """Drain what has arrived, checkpoint every model, disconnect."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(30)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        if self._conn is not None:
            self._conn.close()

    def _run(self) -> None:
        self.catch_up()
        next_cp = time.monotonic() + self.section.checkpoint_every_s
        next_fb = time.monotonic()
        while True:
            try:
                batch = [self.held.popleft() if self.held else self.inbox.get(timeout=0.2)]
            except queue.Empty:
                if self.stopping.is_set():
                    break
            else:
                # what else has arrived is scored first, then the acks go out together:
                # each ack wakes paho's network thread, and acks sent back to back are
                # mostly written in one wake instead of one wake between every two reads
                with contextlib.suppress(queue.Empty):
                    while len(batch) < ACK_BATCH:
                        batch.append(self.held.popleft() if self.held else self.inbox.get_nowait())
                for msg in batch:
                    self.handle(msg.topic, msg.payload)
                for msg in batch:
                    self._ack(msg)
            now = time.monotonic()
            if now >= next_fb:
                self.apply_feedback()
                next_fb = now + self.section.feedback_poll_s
            if now >= next_cp:
                self.checkpoint()
                next_cp = now + self.section.checkpoint_every_s
        self.checkpoint(everything=True)

    def _ack(self, msg: Inbound) -> None:
        """PUBACK once the samples are scored and their events stored (not on receipt)."""
        with self._session_lock:
            current = self.session
        if msg.qos and msg.session == current and self._client is not None:
            self._client.ack(msg.mid, msg.qos)

    def catch_up(self) -> int:
        """Score what ingest stored after each owned asset's checkpoint; returns samples.

        Covers the samples a dead worker had acknowledged but not checkpointed, and any the
        broker could not queue (a session that did not exist yet, a dropped queue). The
        hypertable does not keep the ``historical`` flag: caught-up samples score as live.
        """
        limit = self.section.catchup_max_samples
        if not limit:
            return 0
        rows = self._db(catchup.stale_assets, self.section.site)
        total = 0
        for asset, site, asset_class, since in rows:
            if self.stopping.is_set():
                break
            if not self.owns(asset):
                continue
            det = self.detector(site, asset, asset_class)
            samples = self._db(catchup.samples_after, asset, since, limit)
            for ts, values in samples:
                step = det.update(ts, values)
                if step.event is not None:
                    self.emit(step.event)
            if samples:
                self.dirty.add(asset)
                total += len(samples)
                self.counts["caught_up"] += len(samples)
                log.info("asset %s: caught up %d stored samples since %s", asset,
                         len(samples), since.isoformat())  # fmt: skip
            if len(samples) == limit:
                log.warning("asset %s: catch-up stopped at %d samples (catchup_max_samples)",
                            asset, limit)  # fmt: skip
        if total:
            self.checkpoint()
        return total

    def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """A store call that survives a database restart: reconnect with backoff, retry.

        Every store call is idempotent (upserts, ``on conflict do nothing``, reads), so a
        retry after a lost connection cannot double anything; without this the processing
        thread died on the first lost connection and the worker went silent. Retried
        forever (0.5 s doubling to 10 s), except while stopping; tenacity, as in ingest.
        """
        return self._retrying()(self._call, fn, *args)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:  # lost on the previous attempt
            self._conn = fdb.connect(self.settings.database.dsn, autocommit=True)
        try:
            return fn(self._conn, *args)
        except TRANSIENT:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
            raise

    def _retrying(self) -> Retrying:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            reason = str(exc).strip().splitlines()[0] if exc and str(exc).strip() else exc
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning("database: %s; reconnecting in %.1f s", reason, wait)

        def give_up(state: RetryCallState) -> bool:
            return self.stopping.is_set() and state.attempt_number > 3

        return Retrying(
            retry=retry_if_exception_type(TRANSIENT),
            wait=wait_exponential(multiplier=0.5, max=10.0),
            stop=give_up,
            before_sleep=before_sleep,
            reraise=True,
        )

    # -- work ----------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> list[AnomalyEvent]:
        """Score one telemetry message; returns the events it raised.

        Ownership is read from the topic before the payload is decoded: with static
        partitions every worker receives every asset's telemetry, and decoding the
        ``partitions - 1`` shares it does not own was most of its parsing work (a payload
        bad for another worker's asset is that worker's to count, not ours).
        """
        try:
            where = topics.parse(topic)
        except ContractError as exc:
            return self._reject(topic, exc)
        if where.asset is not None and not self.owns(where.asset):
            self.counts["foreign"] += 1
            return []
        try:
            batch = decode_message("telemetry", topic, payload).body
        except ContractError as exc:
            return self._reject(topic, exc)
        det = self.detector(where.site, batch.asset, batch.asset_class)
        events = []
        for sample in batch.samples:
            step = det.update(sample.ts, sample.values, historical=batch.historical)
            if step.event is not None:
                events.append(step.event)
        self.counts["batches"] += 1
        self.counts["samples"] += len(batch.samples)
        self.last_scored = max(self.last_scored, max(s.ts.timestamp() for s in batch.samples))
        self.dirty.add(batch.asset)
        for ev in events:
            self.emit(ev)
        return events

    def _reject(self, topic: str, exc: ContractError) -> list[AnomalyEvent]:
        self.counts["rejected"] += 1  # ingest keeps the dead letter; we only count
        log.debug("rejected %s: %s", topic, exc)
        return []

    def detector(self, site: str, asset: str, asset_class: str | None) -> AssetDetector:
        det = self.detectors.get(asset)
        if det is not None:
            return det
        if asset_class is None:
            row = self._db(
                lambda c: c.execute(
                    "select asset_class from assets where asset = %s", (asset,)
                ).fetchone()
            )
            asset_class = row[0] if row else None
        cfg = self.config.for_class(asset_class)
        det = self._db(store.load_checkpoint, asset, cfg.config_hash(), cfg.health)
        if det is None:
            det = AssetDetector(asset, cfg, site=site, asset_class=asset_class)
            log.info("asset %s: new model (%s), warm-up %d samples", asset, asset_class,
                     cfg.alarm.warmup)  # fmt: skip
        else:
            log.info("asset %s: resumed from checkpoint at %d samples", asset, det.samples)
        self.detectors[asset] = det
        return det

    def emit(self, ev: AnomalyEvent) -> None:
        self._db(store.store_event, ev)
        assert self._client is not None
        info = self._client.publish(topics.anomaly(ev.site, ev.asset), encode(ev), qos=1)
        self._await_puback(info)
        self.counts["events"] += 1
        log.info("asset %s: %s %s score %.2f %s", ev.asset, ev.state, ev.severity, ev.score,
                 ev.fault_mode or "")  # fmt: skip

    def _await_puback(self, info: paho.MQTTMessageInfo, limit_s: float = 30.0) -> None:
        """Hold the telemetry's own ack (and the next checkpoint) until the broker has the
        event: else a crash after a checkpoint could leave an event stored but never sent.
        Paho keeps an unsent event queued across reconnects; past ``limit_s`` we go on.

        Meanwhile telemetry is moved from the inbox to ``held`` (scored next, in order): with
        the inbox full, paho's thread blocks in ``on_message`` and neither sends the event nor
        reads its PUBACK, so every event of a backlog (a restart, a burst) waited the full
        ``limit_s`` (the broker does not stop at its in-flight window: seen 10,000 queued)."""
        start = time.monotonic()
        try:
            while not info.is_published():
                waited = time.monotonic() - start
                if waited > limit_s or (self.stopping.is_set() and waited > 2.0):
                    log.warning("anomaly event not acknowledged by the broker in %.0f s", waited)
                    return
                if len(self.held) >= self.section.queue_max:
                    time.sleep(0.005)  # as much aside as the inbox holds: back-pressure again
                    continue
                with contextlib.suppress(queue.Empty):
                    self.held.append(self.inbox.get(timeout=0.005))
        except (ValueError, RuntimeError) as exc:  # published while disconnected: paho queued it
            log.warning("anomaly event queued for the broker (%s)", exc)

    def checkpoint(self, everything: bool = False) -> int:
        names = list(self.detectors) if everything else sorted(self.dirty)
        n = self._db(store.save_checkpoints, [self.detectors[a] for a in names], self.worker)
        self.dirty.clear()
        return n

    def apply_feedback(self) -> int:
        rows = self._db(store.pending_feedback, list(self.detectors))
        for fb in rows:
            det = self.detectors[fb.asset]
            found = fb.confirmed_fault_mode
            if det.feedback(
                fb.resolution_code, guessed=fb.fault_mode, found=found, events=fb.event_ids
            ):
                log.info("asset %s: fault mode %s remembered for what was guessed %s (ticket %d)",
                         fb.asset, found, fb.fault_mode, fb.ticket_id)  # fmt: skip
            on = det.alarm.on_threshold
            self._db(
                store.mark_applied, fb.ticket_id, fb.asset, fb.resolution_code, on, self.worker
            )
            self.dirty.add(fb.asset)
            log.info("asset %s: feedback %s (ticket %d), bar now %.2f", fb.asset,
                     fb.resolution_code, fb.ticket_id, on)  # fmt: skip
        if self._db(store.apply_baseline_requests, self.detectors, self.worker):
            self.dirty.update(self.detectors)  # a re-learned reference goes out with the checkpoint
        return len(rows)
