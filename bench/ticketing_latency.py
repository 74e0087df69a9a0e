"""Ticketing: anomaly event -> assigned ticket latency, and API throughput.

A fresh database and a private Mosquitto; the service runs in its own process under
uvicorn (one worker), with an extra bare FastAPI route (no auth, no database) as the raw
baseline measured in the same server and run.

- Latency over HTTP: ``POST /anomalies`` for a new asset until the answer carries the
  assigned engineer (dedupe, ticket insert, SLA deadlines, routing, assignment, audit).
- Latency over MQTT: publish the anomaly to ``forewarn/v1/{site}/{asset}/anomaly`` until the
  ``ticket.assigned`` event for it arrives on ``forewarn/v1/{site}/tickets/+/event``.
- Throughput with 16 concurrent clients: the bare route, ``GET /me`` (token check),
  ``GET /tickets/{id}`` (token + detail), ``POST /anomalies`` (evidence on an open ticket).

Run: ``python -m bench.ticketing_latency`` (``FOREWARN_BENCH_QUICK=1`` for a short run).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from forewarn import db as fdb
from forewarn import mqtt as fmqtt
from forewarn.settings import MqttSettings
from forewarn.testing.servers import Broker, free_port

console = Console()
QUICK = bool(os.environ.get("FOREWARN_BENCH_QUICK"))
N_HTTP = 60 if QUICK else 300
N_MQTT = 40 if QUICK else 200
SECONDS = 3.0 if QUICK else 5.0
ROUNDS = 1 if QUICK else 3
CONCURRENCY = 16
BARE = "bare FastAPI app, one route (baseline)"
RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_DSN = os.environ.get("FOREWARN_TEST_DSN", "postgresql://postgres@127.0.0.1:54329/postgres")

SERVER = """
import os, uvicorn
from fastapi import FastAPI
if os.environ.get("BENCH_BARE"):
    app = FastAPI()
else:
    from forewarn.settings import load
    from ticketing.app import create_app
    app = create_app(load(path=os.devnull))
@app.get("/bench/bare", include_in_schema=False)
def bare() -> dict[str, bool]:
    return {"ok": True}
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), log_level="warning",
            access_log=False)
"""


def event(asset: str, event_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or secrets.token_hex(8),
        "site": "bench",
        "asset": asset,
        "asset_class": "centrifugal_pump",
        "ts": "2026-01-05T08:00:00Z",
        "detector": {"name": "bench", "version": "1", "config_hash": "x"},
        "score": 0.9,
        "severity": "warning",
        "fault_mode": "bearing_wear",
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def seed(dsn: str) -> str:
    from psycopg.types.json import Jsonb

    from ticketing.auth import create_token

    with fdb.connect(dsn, autocommit=True) as conn:
        for i in range(20):
            conn.execute(
                "insert into engineers (name, asset_classes, fault_modes, home_lat, home_lon,"
                " zones, shifts, max_load) values (%s, %s, %s, %s, %s, %s, %s, 1000)",
                (
                    f"eng-{i}",
                    ["centrifugal_pump"],
                    ["bearing_wear"] if i % 2 else [],
                    52 + i * 0.05,
                    4.0,
                    ["bench"],
                    Jsonb([{"days": list(range(7)), "start": "00:00", "end": "24:00"}]),
                ),
            )
        return create_token(conn, "bench", "admin")[1]


def start_server(
    dsn: str, broker: Broker, port: int, bare: bool = False
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FOREWARN_DATABASE__DSN": dsn,
        "FOREWARN_MQTT__URL": broker.url,
        "BENCH_PORT": str(port),
        "FOREWARN_TICKETING__SLA_SCAN_INTERVAL_S": "60",
        "BENCH_BARE": "1" if bare else "",
    }
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", SERVER], env=env, cwd=root)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/bench/bare", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the ticketing server did not start")


def http_latency(base: str, headers: dict[str, str]) -> list[float]:
    out = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
        for i in range(N_HTTP):
            t0 = time.perf_counter()
            r = c.post("/anomalies", json=event(f"http-{i}"))
            took = time.perf_counter() - t0
            body = r.json()
            assert r.status_code == 201 and body["engineer_id"] is not None, body
            out.append(took)
    return out


def mqtt_latency(broker: Broker) -> list[float]:
    settings = MqttSettings(url=broker.url)
    arrived: dict[str, float] = {}
    cond = threading.Condition()
    sub = fmqtt.paho_client(settings, fmqtt.client_id(settings, "bench-sub"))

    def on_message(c: Any, u: Any, m: Any) -> None:
        payload = json.loads(m.payload)
        if payload.get("event") == "ticket.assigned":
            with cond:
                arrived[payload["asset"]] = time.perf_counter()
                cond.notify_all()

    sub.on_message = on_message
    sub.on_connect = lambda c, u, f, rc, p=None: c.subscribe("forewarn/v1/bench/tickets/+/event", 1)
    fmqtt.connect_paho(sub, settings)
    pub = fmqtt.paho_client(settings, fmqtt.client_id(settings, "bench-pub"))
    fmqtt.connect_paho(pub, settings)
    time.sleep(0.5)
    out = []
    try:
        for i in range(N_MQTT):
            asset = f"mqtt-{i}"
            t0 = time.perf_counter()
            pub.publish(f"forewarn/v1/bench/{asset}/anomaly", json.dumps(event(asset)), qos=1)
            with cond:
                cond.wait_for(functools.partial(arrived.__contains__, asset), timeout=10)
            if asset in arrived:
                out.append(arrived[asset] - t0)
    finally:
        for c in (sub, pub):
            c.disconnect()
            c.loop_stop()
    return out


async def throughput(
    base: str, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[float, int]:
    """Requests per second with CONCURRENCY clients for SECONDS; and the error count."""
    done = errors = 0
    stop = time.perf_counter() + SECONDS

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop:
            payload = body() if callable(body) else body
            r = await client.request(method, path, json=payload)
            done += 1
            errors += r.status_code >= 400

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for _ in range(CONCURRENCY)))
        took = time.perf_counter() - t0
    return done / took, errors


def main() -> None:
    name = f"fw_bench_tk_{os.getpid()}"
    dsn = fdb.create_database(ADMIN_DSN, name)
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(home=Path(tmp) / "mqtt").start()
        try:
            fdb.migrate(dsn)
            token = seed(dsn)
            port = free_port()
            proc = start_server(dsn, broker, port)
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            with console.status("latency over HTTP ..."):
                http = http_latency(base, headers)
            with console.status("latency over MQTT ..."):
                mq = mqtt_latency(broker)
            ticket = httpx.post(f"{base}/anomalies", json=event("tput"), headers=headers).json()
            bare_port = free_port()
            bare_proc = start_server(dsn, broker, bare_port, bare=True)
            bare_base = f"http://127.0.0.1:{bare_port}"
            cases = [
                (BARE, bare_base, "GET", "/bench/bare", None),
                ("ticketing app, no-auth route", base, "GET", "/bench/bare", None),
                ("GET /me (token check)", base, "GET", "/me", None),
                (
                    "GET /tickets/{id} (detail)",
                    base,
                    "GET",
                    f"/tickets/{ticket['ticket_id']}",
                    None,
                ),
                ("POST /anomalies (evidence)", base, "POST", "/anomalies", lambda: event("tput")),
            ]
            samples: dict[str, list[tuple[float, int]]] = {c[0]: [] for c in cases}
            try:
                # Interleaved rounds, median per route: the machine's other load drifts.
                for r in range(ROUNDS):
                    for label, url, method, path, body in cases:
                        with console.status(f"round {r + 1}/{ROUNDS}: {label} ..."):
                            samples[label].append(
                                asyncio.run(throughput(url, method, path, headers, body))
                            )
            finally:
                bare_proc.terminate()
                bare_proc.wait(15)
            rates = {
                label: (statistics.median(x for x, _ in xs), sum(e for _, e in xs))
                for label, xs in samples.items()
            }
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(15)
            broker.kill()
            fdb.drop_database(ADMIN_DSN, name)

    lat = Table(title="Anomaly event -> assigned ticket (ms)")
    for col in ("path", "n", "p50", "p99", "mean"):
        lat.add_column(col)
    for label, xs in (("HTTP POST /anomalies", http), ("MQTT publish -> ticket.assigned", mq)):
        lat.add_row(
            label,
            str(len(xs)),
            f"{pct(xs, 0.5) * 1e3:.1f}",
            f"{pct(xs, 0.99) * 1e3:.1f}",
            f"{statistics.mean(xs) * 1e3:.1f}",
        )
    console.print(lat)
    bare = rates[BARE][0]
    tput = Table(
        title=f"API throughput, {CONCURRENCY} concurrent clients, median of {ROUNDS} x {SECONDS:g} s"
    )
    for col in ("route", "req/s", "x bare", "errors"):
        tput.add_column(col)
    for label, (rate, errors) in rates.items():
        tput.add_row(label, f"{rate:.0f}", f"{rate / bare:.2f}", str(errors))
    console.print(tput)
    result = {
        "quick": QUICK,
        "latency_ms": {
            "http": {"n": len(http), "p50": pct(http, 0.5) * 1e3, "p99": pct(http, 0.99) * 1e3},
            "mqtt": {"n": len(mq), "p50": pct(mq, 0.5) * 1e3, "p99": pct(mq, 0.99) * 1e3},
        },
        "throughput_rps": {label: round(r, 1) for label, (r, _) in rates.items()},
        "ratio_to_bare": {label: round(r / bare, 3) for label, (r, _) in rates.items()},
        "errors": {label: e for label, (_, e) in rates.items()},
        "concurrency": CONCURRENCY,
        "rounds": ROUNDS,
        "seconds_per_round": SECONDS,
        "load_average": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ticketing_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {RESULTS / 'ticketing_latency.json'}")


if __name__ == "__main__":
    main()
