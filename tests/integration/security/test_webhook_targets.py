"""Issue 14 item 12: webhook targets on loopback/private networks are refused by default,
and a deactivated webhook stops retrying.

Attacks tried: an admin subscribes webhooks to loopback, private, link-local (cloud
metadata), unspecified, IPv6 loopback and IPv4-mapped loopback addresses and to
``localhost`` (a port scanner reading answers from the delivery log); a stored target that
turned private after creation (DNS change); a failing webhook deactivated mid-retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.clock import ManualClock
from ticketing.config import ticketing_settings

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
REFUSED = [
    "http://127.0.0.1:9/x",
    "http://localhost:8080/hook",
    "http://10.1.2.3/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:22/",
    "http://[::1]:80/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fc00::1]/hook",
    "http://100.64.0.1/hook",
]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Receiver:
    """A real HTTP endpoint on loopback that always answers 500 and counts the calls."""

    def __init__(self) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                outer.hits += 1
                self.send_response(500)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _app(settings: Settings, clock: ManualClock, allow: bool) -> Any:
    cfg = ticketing_settings(settings).model_copy(update={"webhook_allow_private": allow})
    return create_app(settings, clock=clock, background=False, mqtt=False, config=cfg)


@pytest.mark.parametrize("url", REFUSED)
def test_private_targets_are_refused_by_default(
    client: TestClient, sec_tokens: dict[str, str], db: psycopg.Connection[Any], url: str
) -> None:
    r = client.post(
        "/webhooks", json={"url": url, "event_types": ["*"]}, headers=_auth(sec_tokens["admin"])
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("url: ") and "webhook_allow_private" in detail
    assert db.execute("select count(*) from webhooks where url = %s", (url,)).fetchone()[0] == 0


def test_private_targets_allowed_by_setting(
    settings: Settings, sec_tokens: dict[str, str], receiver: Receiver
) -> None:
    with TestClient(_app(settings, ManualClock(MONDAY), allow=True)) as c:
        r = c.post(
            "/webhooks",
            json={"url": receiver.url, "event_types": ["*"]},
            headers=_auth(sec_tokens["admin"]),
        )
        assert r.status_code == 201, r.text
        c.delete(f"/webhooks/{r.json()['id']}", headers=_auth(sec_tokens["admin"]))


def _hook_and_ticket(
    c: TestClient, tokens: dict[str, str], url: str, make_asset: Callable[..., str]
) -> int:
    hook = c.post(
        "/webhooks",
        json={"url": url, "event_types": ["ticket.created"]},
        headers=_auth(tokens["admin"]),
    )
    assert hook.status_code == 201, hook.text
    r = c.post(
        "/tickets", json={"asset": make_asset(), "title": "x"}, headers=_auth(tokens["dispatcher"])
    )
    assert r.status_code == 201, r.text
    return int(hook.json()["id"])


def test_target_that_turned_private_is_not_called(
    settings: Settings,
    sec_tokens: dict[str, str],
    receiver: Receiver,
    make_asset: Callable[..., str],
) -> None:
    """Created while allowed (or before its name moved to a private address); the sender,
    running with the default setting, checks again and never connects."""
    clock = ManualClock(MONDAY)
    with TestClient(_app(settings, clock, allow=True)) as c:
        hid = _hook_and_ticket(c, sec_tokens, receiver.url, make_asset)
    with TestClient(_app(settings, clock, allow=False)) as c:
        c.app.state.webhooks.deliver_due()  # type: ignore[attr-defined]
        log = c.get(f"/webhooks/{hid}/deliveries", headers=_auth(sec_tokens["admin"])).json()
        c.delete(f"/webhooks/{hid}", headers=_auth(sec_tokens["admin"]))
    assert receiver.hits == 0
    assert log[0]["last_error"].startswith("refused: ") and log[0]["last_status_code"] is None


def test_deactivated_webhook_stops_retrying(
    settings: Settings,
    sec_tokens: dict[str, str],
    receiver: Receiver,
    make_asset: Callable[..., str],
) -> None:
    clock = ManualClock(MONDAY)
    with TestClient(_app(settings, clock, allow=True)) as c:
        sender = c.app.state.webhooks  # type: ignore[attr-defined]
        hid = _hook_and_ticket(c, sec_tokens, receiver.url, make_asset)
        sender.deliver_due()
        assert receiver.hits == 1  # failed (500): a retry is scheduled
        assert c.delete(f"/webhooks/{hid}", headers=_auth(sec_tokens["admin"])).status_code == 204
        for _ in range(3):
            clock.advance(seconds=sender.backoff_s * 2**sender.max_attempts)
            sender.deliver_due()
        log = c.get(f"/webhooks/{hid}/deliveries", headers=_auth(sec_tokens["admin"])).json()
    assert receiver.hits == 1, "a deactivated webhook was called again"
    assert [(d["status"], d["attempts"], d["last_error"]) for d in log] == [
        ("failed", 1, "webhook deactivated")
    ]
