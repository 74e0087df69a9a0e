"""CPU per sample of the detectors service's own path, in-process, without the broker.

``bench.fleet_scale --edge mqtt`` divides the detectors process's CPU by the samples stored,
and MQTT-native devices send one sample a message, so everything per message counts: topic
parse, contract decode, preprocessing, scoring, bookkeeping, checkpoints, feedback polls.
This drives ``DetectorService.handle`` with the simulator's own payloads (the fleet of
``bench._fleet``, one sample a message) and the service's checkpoint and feedback cadence
in stream time (the fleet publishes at 1 Hz), against a scratch database on the test
server; paho's receive and ack are not in it. ``--live`` runs the real service instead
(``start()``: paho, inbox, processing thread, acks) against a private Mosquitto, with a
publisher process sending each step's messages in one burst, as the simulator does, at
``--speed`` times real time (the service's periods are scaled alike), and reports the
process's CPU over fleet_scale's window.

    python -m bench.detectors_service_cost [--fleet 800] [--steps 240] [--profile out.prof]
        [--digest]   # also print a hash of every event and every score (equivalence check)
    python -m bench.detectors_service_cost --live [--speed 4]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import multiprocessing as mp
import os
import pickle
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._fleet import detector_config, scenario
from detectors.service import DetectorService, DetectorsSettings
from device_sim.engine import Fleet
from device_sim.mqtt_out import Batcher
from device_sim.scenario import parse_scenario
from forewarn import db as fdb
from forewarn import mqtt as fmqtt
from forewarn.contract import encode, topics
from forewarn.settings import MqttSettings, Settings
from forewarn.testing import Broker
from forewarn.testing.plugin import DEFAULT_ADMIN_DSN

START = datetime(2026, 11, 30, tzinfo=UTC)


class _Published:
    def is_published(self) -> bool:
        return True


class StubClient:
    """Stands in for paho: events are 'published' at once (their cost is not the question)."""

    def __init__(self) -> None:
        self.sent = 0

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> _Published:
        self.sent += 1
        return _Published()

    def ack(self, mid: int, qos: int) -> None:
        pass

    def is_connected(self) -> bool:
        return True


def messages(n: int, steps: int, tmp: Path) -> tuple[list[tuple[str, bytes]], Path]:
    """The fleet's messages, one sample each, in publishing order; and the detector YAML."""
    fleet = Fleet(parse_scenario(scenario(n, steps + 10, max(2, n // 100), batch=1)), START)
    batcher = Batcher(fleet, 1)
    out: list[tuple[str, bytes]] = []
    for _ in range(steps):
        out.extend((topic, payload) for topic, payload, _ in batcher.add(fleet.step()))
    return out, detector_config(tmp / "detectors.yaml")


def service(dsn: str, config: Path) -> DetectorService:
    settings = Settings.model_validate({"database": {"dsn": dsn}})
    svc = DetectorService(settings, DetectorsSettings(config=str(config), worker="bench"))
    svc._conn = fdb.connect(dsn, autocommit=True)
    svc._client = StubClient()  # type: ignore[assignment]
    return svc


def drive(
    svc: DetectorService, msgs: list[tuple[str, bytes]], rate: float, digest: Any = None
) -> Iterator[tuple[int, float]]:
    """Handle every message, checkpointing and polling feedback on the service's cadence
    (stream time: ``rate`` samples a second); yields (samples, CPU seconds) per step."""
    cp_every = svc.section.checkpoint_every_s * rate
    fb_every = svc.section.feedback_poll_s * rate
    next_cp, next_fb = cp_every, 0.0
    for i, (topic, payload) in enumerate(msgs):
        events = svc.handle(topic, payload)
        if digest is not None:
            det = svc.detectors[topics.parse(topic).asset or ""]
            digest.update(f"{topic} {det.score!r} {det.alarm.active}".encode())
            for ev in events:
                digest.update(encode(ev))
        if i >= next_fb:
            svc.apply_feedback()
            next_fb += fb_every
        if i >= next_cp:
            svc.checkpoint()
            next_cp += cp_every
        if i % int(rate) == int(rate) - 1:
            yield i + 1, time.process_time()


def _publish(url: str, path: str, per_step: int, period: float) -> None:
    """Publisher process: each step's messages in one burst, a step every ``period``."""
    msgs = pickle.loads(Path(path).read_bytes())
    s = MqttSettings(url=url)
    client = fmqtt.paho_client(s, fmqtt.client_id(s, "bench-pub"), max_inflight=1000)
    fmqtt.connect_paho(client, s)
    t0 = time.monotonic()
    infos = []
    for k in range(0, len(msgs), per_step):
        for topic, payload in msgs[k : k + per_step]:
            infos.append(client.publish(topic, payload, qos=1))
        time.sleep(max(0.0, t0 + (k // per_step + 1) * period - time.monotonic()))
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process, by name (/proc)."""
    import threading

    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = names.get(int(task.name), "other")
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def live(dsn: str, config: Path, msgs: list[tuple[str, bytes]], steps: int, speed: float,
         tmp: Path) -> None:  # fmt: skip
    """The real service (paho, inbox, processing thread, acks) on a private broker."""
    broker = Broker(home=tmp / "mqtt").start()
    try:
        settings = Settings.model_validate({"database": {"dsn": dsn}, "mqtt": {"url": broker.url}})
        section = DetectorsSettings(
            config=str(config), worker="bench", checkpoint_every_s=60.0 / speed,
            feedback_poll_s=10.0 / speed, catchup_max_samples=0,
        )  # fmt: skip
        svc = DetectorService(settings, section)
        svc.start()
        (tmp / "msgs.pickle").write_bytes(pickle.dumps(msgs))
        per_step = len(msgs) // steps
        pub = mp.get_context("spawn").Process(
            target=_publish, args=(broker.url, str(tmp / "msgs.pickle"), per_step, 1.0 / speed)
        )
        pub.start()
        marks: dict[int, tuple[float, float]] = {}
        wanted = sorted({min(60, steps), min(210, steps), steps})
        deadline = time.monotonic() + steps / speed + 300
        while wanted and time.monotonic() < deadline:
            if svc.counts["samples"] >= wanted[0] * per_step:
                marks[wanted.pop(0)] = (time.process_time(), time.monotonic())
            time.sleep(0.005)
        threads = _thread_cpu()
        pub.join(60)
        svc.stop()
        print("CPU s by thread (whole run):", threads)
        print(f"live, {speed}x real time, counts {svc.counts}")
        for a, b in ((60, 210), (60, steps)):
            if a in marks and b in marks:
                cpu = marks[b][0] - marks[a][0]
                n = (b - a) * per_step
                print(f"steps {a}-{b}: {cpu / n * 1e6:.1f} µs CPU/sample "
                      f"({cpu:.1f} s CPU over {marks[b][1] - marks[a][1]:.1f} s)")  # fmt: skip
    finally:
        broker.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fleet", type=int, default=800)
    ap.add_argument("--steps", type=int, default=240, help="samples per asset (1 Hz)")
    ap.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    ap.add_argument("--digest", action="store_true", help="hash every event and score")
    ap.add_argument("--live", action="store_true", help="the real service on a private broker")
    ap.add_argument("--speed", type=float, default=4.0, help="--live: times real time")
    ap.add_argument("--dsn", default=os.environ.get("FOREWARN_TEST_DSN", DEFAULT_ADMIN_DSN))
    a = ap.parse_args()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"detcost-{secrets.token_hex(3)}"
    tmp.mkdir(parents=True)
    msgs, config = messages(a.fleet, a.steps, tmp)
    name = f"detcost_{secrets.token_hex(3)}"
    dsn = fdb.create_database(a.dsn, name)
    try:
        fdb.migrate(dsn)
        if a.live:
            live(dsn, config, msgs, a.steps, a.speed, tmp)
            return
        svc = service(dsn, config)
        prof = cProfile.Profile() if a.profile else None
        t0 = time.process_time()
        marks: list[tuple[int, float]] = []
        if prof:
            prof.enable()
        digest = hashlib.sha256() if a.digest else None
        marks = list(drive(svc, msgs, rate=len(msgs) / a.steps, digest=digest))
        svc.checkpoint(everything=True)
        if prof:
            prof.disable()
            prof.dump_stats(a.profile)
        total = time.process_time() - t0
        report(marks, t0, total, len(msgs), a.steps, svc)
        if digest is not None:
            states = sorted((d.asset, d.samples, d.score, d.alarm.active, d.pre.last_ts)
                            for d in svc.detectors.values())  # fmt: skip
            digest.update(repr(states).encode())
            print("digest of scores, events and final states:", digest.hexdigest())
        svc._conn.close()
    finally:
        fdb.drop_database(a.dsn, name)


def report(
    marks: list[tuple[int, float]], t0: float, total: float, n: int, steps: int, svc: Any
) -> None:
    per_step = n / steps
    prev_n, prev_t = 0, t0
    rows = []
    for k, (done, t) in enumerate(marks):
        rows.append((k, (t - prev_t) / (done - prev_n) * 1e6))
        prev_n, prev_t = done, t
    warm = [us for k, us in rows if k < 115]
    live = [us for k, us in rows if k >= 125]
    print(f"{n} messages ({per_step:.0f} assets x {steps} samples), counts {svc.counts}")
    print(f"total {total:.2f} s CPU = {total / n * 1e6:.1f} µs/sample (incl. final checkpoint)")
    if warm:
        print(f"warm-up steps: {sum(warm) / len(warm):.1f} µs/sample (mean of steps)")
    if live:
        print(f"scoring steps: {sum(live) / len(live):.1f} µs/sample (mean of steps)")
    # fleet_scale's window: samples 60..210 of each asset (60 s warm-up, 150 s window)
    window = [us for k, us in rows if 60 <= k < 210]
    if window:
        print(f"fleet_scale's window (steps 60-210): {sum(window) / len(window):.1f} µs/sample")
    steady = sorted(us for k, us in rows if k >= 130)
    if steady:
        print(f"steady scoring (median step from 130): {steady[len(steady) // 2]:.1f} µs/sample")
    worst = sorted(rows, key=lambda r: -r[1])[:5]
    print("slowest steps:", ", ".join(f"{k}: {us:.0f}" for k, us in worst))


if __name__ == "__main__":
    main()
