"""Notifications: what the outbox costs the ticket change, and how fast it drains.

A fresh database, the ticketing app in process (no scheduler), a real SMTP server
(aiosmtpd) on localhost. Measured, median of 3 runs of ``N`` tickets each:

- ``POST /tickets`` for an engineer with no channel (baseline) vs one e-mail channel: the
  extra cost of rendering the template and writing the outbox row in the same transaction.
- Draining ``N`` queued e-mails with ``NotificationSender.deliver_due`` (claim, Apprise send,
  mark delivered, audit) vs Apprise sending ``N`` e-mails in a plain loop (baseline).

Run: ``python -m bench.notifications_outbox`` (``FOREWARN_BENCH_QUICK=1`` for N=20).
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from pathlib import Path

import apprise
from fastapi.testclient import TestClient

from forewarn import db as fdb
from forewarn.settings import load
from ticketing.app import create_app
from ticketing.auth import create_token

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "ticketing"))
from people_helpers import Mailbox

ADMIN_DSN = os.environ.get("FOREWARN_TEST_DSN", "postgresql://postgres@127.0.0.1:54329/postgres")
N = 20 if os.environ.get("FOREWARN_BENCH_QUICK") else 100
ALL_DAY = [{"days": list(range(7)), "start": "00:00", "end": "24:00"}]


def main() -> None:
    name = f"fw_bench_notify_{secrets.token_hex(3)}"
    dsn = fdb.create_database(ADMIN_DSN, name)
    mailbox = Mailbox().start()
    try:
        fdb.migrate(dsn)
        with fdb.connect(dsn, autocommit=True) as conn:
            token = create_token(conn, "bench", "admin")[1]
            for cls in ("quiet", "loud"):
                conn.execute(
                    "insert into assets (asset, site, asset_class) values (%s, 's', %s)",
                    (f"{cls}-1", cls),
                )
        app = create_app(
            load(path=os.devnull, environ={"FOREWARN_DATABASE__DSN": dsn}),
            background=False,
            mqtt=False,
        )
        h = {"Authorization": f"Bearer {token}"}
        with TestClient(app) as c:
            for cls in ("quiet", "loud"):
                eng = c.post(
                    "/engineers",
                    headers=h,
                    json={
                        "name": cls,
                        "asset_classes": [cls],
                        "shifts": ALL_DAY,
                        "max_load": 100,
                    },
                ).json()["id"]
                if cls == "loud":
                    c.post(
                        "/notifications/channels",
                        headers=h,
                        json={"engineer_id": eng, "url": mailbox.url("eng@example.com")},
                    )
            with fdb.connect(dsn, autocommit=True) as conn:  # the API caps it at 100
                conn.execute("update engineers set max_load = 1000000")
            create: dict[str, list[float]] = {"quiet": [], "loud": []}
            drain: list[float] = []
            plain: list[float] = []
            for _ in range(3):
                for cls in ("quiet", "loud"):
                    t0 = time.perf_counter()
                    for i in range(N):
                        r = c.post(
                            "/tickets", headers=h, json={"asset": f"{cls}-1", "title": f"t{i}"}
                        )
                        assert r.status_code == 201
                    create[cls].append((time.perf_counter() - t0) / N * 1000)
                t0 = time.perf_counter()
                sent = 0
                while sent < N:
                    sent += app.state.notifier.deliver_due()
                drain.append(N / (time.perf_counter() - t0))
                t0 = time.perf_counter()
                for i in range(N):  # a fresh instance each, as the sender (no client throttle)
                    a = apprise.Apprise()
                    a.add(mailbox.url("eng@example.com"))
                    assert a.notify(body=f"b{i}", title=f"t{i}")
                plain.append(N / (time.perf_counter() - t0))
        q, lo = statistics.median(create["quiet"]), statistics.median(create["loud"])
        d, p = statistics.median(drain), statistics.median(plain)
        print(f"N={N} tickets per run, median of 3")
        print(f"POST /tickets, no channel (baseline)   {q:7.1f} ms/ticket  1.00")
        print(f"POST /tickets, one e-mail channel      {lo:7.1f} ms/ticket  {lo / q:.2f}")
        print(f"Apprise send loop (baseline)           {p:7.1f} mails/s    1.00")
        print(f"outbox drain (claim, send, mark, audit) {d:7.1f} mails/s    {d / p:.2f}")
        print(f"mails received: {len(mailbox.messages)} (expected {6 * N})")
    finally:
        mailbox.stop()
        fdb.drop_database(ADMIN_DSN, name)


if __name__ == "__main__":
    main()
