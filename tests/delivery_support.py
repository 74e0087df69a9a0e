"""Anomaly backlogs for the delivery tests: publish them, watch them land, account for each.

Used by the ticketing kill test (tests/integration/ticketing) and the chaos suite: every
event must end as exactly one ticket (the first of its asset and fault mode) or one evidence
row on that ticket, never lost, never twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

FAULTS = ("bearing_wear", "seal_leak")


@dataclass
class Backlog:
    """``n`` anomaly events over ``assets`` assets and two fault modes, deterministic ids."""

    prefix: str
    n: int
    assets: int = 10
    site: str = "site-d"

    def events(self) -> list[dict[str, Any]]:
        out = []
        for i in range(self.n):
            asset = f"{self.prefix}-a{i % self.assets}"
            out.append(
                {
                    "event_id": f"{self.prefix}-ev{i:05d}",
                    "site": self.site,
                    "asset": asset,
                    "asset_class": "centrifugal_pump",
                    "ts": f"2026-01-05T08:{i // 60 % 60:02d}:{i % 60:02d}Z",
                    "detector": {"name": "hst", "version": "1", "config_hash": "abc"},
                    "score": 0.9,
                    "severity": "warning",
                    "fault_mode": FAULTS[(i // self.assets) % 2],
                }
            )
        return out

    def ids(self) -> list[str]:
        return [e["event_id"] for e in self.events()]


def queue_unbounded(conf: str) -> bool:
    """Whether a Mosquitto configuration keeps every QoS 1 message for an offline session
    (its default, 1000, silently drops the rest of a backlog: no test of loss would hold)."""
    lines = {ln.strip() for ln in conf.splitlines()}
    return "max_queued_messages 0" in lines and "max_queued_bytes 0" in lines


def publish(url_host: str, port: int, events: list[dict[str, Any]]) -> None:
    """Publish at QoS 1 and wait for every PUBACK (the broker then owns them)."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"backlog-{time.monotonic_ns()}")
    c.max_inflight_messages_set(100)
    c.connect(url_host, port)
    c.loop_start()
    try:
        infos = [
            c.publish(f"forewarn/v1/{e['site']}/{e['asset']}/anomaly", json.dumps(e), qos=1)
            for e in events
        ]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        c.disconnect()
        c.loop_stop()


def landed(conn: psycopg.Connection[Any], prefix: str) -> int:
    row = conn.execute(
        "select count(*) from ticket_anomalies where event_id like %s", (f"{prefix}-%",)
    ).fetchone()
    return int(row[0]) if row else 0


def wait_landed(
    conn: psycopg.Connection[Any], prefix: str, at_least: int, stall_s: float = 20.0
) -> int:
    """Wait until ``at_least`` events landed or nothing new landed for ``stall_s``."""
    last, since = -1, time.monotonic()
    while True:
        got = landed(conn, prefix)
        if got >= at_least:
            return got
        if got != last:
            last, since = got, time.monotonic()
        elif time.monotonic() - since > stall_s:
            return got
        time.sleep(0.005 if got == 0 else 0.2)


def until_consumed(conn: psycopg.Connection[Any], host: str, port: int, prefix: str) -> None:
    """Publish a probe event until ticketing stores it: then its session and subscription
    exist at the broker, so what is published from now on waits for it even while it is down.
    (Its id is fixed, so the repeats are redeliveries to de-duplicate, not new events.)"""
    probe = Backlog(prefix, n=1)
    for _ in range(120):
        publish(host, port, probe.events())
        if wait_landed(conn, prefix, 1, stall_s=1.0):
            return
    raise AssertionError("ticketing never consumed the probe event")


def account(conn: psycopg.Connection[Any], backlog: Backlog) -> list[str]:
    """What is wrong with the backlog's outcome (an empty list: each event exactly once)."""
    problems: list[str] = []
    sent = {e["event_id"]: (e["asset"], e["fault_mode"]) for e in backlog.events()}
    rows = conn.execute(
        "select event_id, outcome, ticket_id from ticket_anomalies where event_id like %s",
        (f"{backlog.prefix}-%",),
    ).fetchall()
    got = {r[0]: (r[1], r[2]) for r in rows}
    lost = sorted(set(sent) - set(got))
    if lost:
        problems.append(f"{len(lost)} of {len(sent)} events lost, e.g. {lost[:3]}")
    tickets = conn.execute(
        "select id, asset, fault_mode from tickets where asset like %s and source = 'predictive'",
        (f"{backlog.prefix}-%",),
    ).fetchall()
    per_key = Counter((a, f) for _, a, f in tickets)
    dup = {k: n for k, n in per_key.items() if n != 1}
    if dup:
        problems.append(f"tickets per (asset, fault) not one: {dup}")
    if set(per_key) != set(sent.values()):
        problems.append(f"tickets for {sorted(per_key)}, events for {sorted(set(sent.values()))}")
    ticket_of = {(a, f): i for i, a, f in tickets}
    opened = Counter(got[e][1] for e in got if got[e][0] == "opened")
    if any(n != 1 for n in opened.values()) or len(opened) != len(tickets):
        problems.append(f"'opened' outcomes per ticket: {dict(opened)}")
    for ev, (outcome, tid) in got.items():
        if outcome not in ("opened", "evidence") or tid != ticket_of.get(sent[ev]):
            problems.append(
                f"{ev}: {outcome} on ticket {tid}, want ticket {ticket_of.get(sent[ev])}"
            )
            break
    notes = conn.execute(
        "select (body::jsonb)->'after'->>'note' from audit_events where action ="
        " 'evidence_attached' and (body::jsonb)->'after'->>'note' like %s",
        (f"anomaly {backlog.prefix}-%",),
    ).fetchall()
    per_event = Counter(str(n[0]).split()[1] for n in notes)
    twice = {e: n for e, n in per_event.items() if n > 1}
    if twice:
        problems.append(f"evidence attached more than once: {dict(list(twice.items())[:3])}")
    want = sum(1 for o, _ in got.values() if o == "evidence")
    if sum(per_event.values()) != want:
        problems.append(f"{sum(per_event.values())} evidence rows for {want} evidence outcomes")
    return problems
