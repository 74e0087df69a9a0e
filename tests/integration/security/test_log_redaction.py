"""Issue 14 item 5: URLs with credentials or tokens never reach the log in full.

Leak tried: a webhook whose URL carries ``user:pass@`` and ``?token=`` is delivered (and
fails once) with httpx's request logging forced on at INFO and every logger at DEBUG; the
log must show the request with userinfo and query values masked, and no secret at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forewarn.redact import redact_text, redact_url
from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.clock import ManualClock
from ticketing.config import ticketing_settings

PASSWORD = "s3cr3t-pass-word"
TOKEN = "t0p-s3cret-token"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u:p@h.example/a?token=x&b=1", "https://***@h.example/a?token=***&b=***"),
        ("http://only-user@h:8080/p", "http://***@h:8080/p"),
        ("https://h.example/p?sig", "https://h.example/p?sig=***"),
        ("https://h.example/p#frag-secret", "https://h.example/p#***"),
        ("https://h.example/plain", "https://h.example/plain"),
        ("mqtts://gw:pw@broker:8883", "mqtts://***@broker:8883"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_finds_urls_in_prose_and_quotes() -> None:
    text = f'POST "https://u:{PASSWORD}@h/x?token={TOKEN}" failed; retry https://h/y?k={TOKEN}'
    out = redact_text(text)
    assert PASSWORD not in out and TOKEN not in out
    assert '"https://***@h/x?token=***"' in out and "https://h/y?k=***" in out


class Receiver:
    def __init__(self) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                outer.hits += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_webhook_url_secrets_are_redacted_in_the_log(
    settings: Settings,
    sec_tokens: dict[str, str],
    receiver: Receiver,
    make_asset: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = ticketing_settings(settings).model_copy(update={"webhook_allow_private": True})
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    app = create_app(settings, clock=clock, background=False, mqtt=False, config=cfg)
    admin = {"Authorization": f"Bearer {sec_tokens['admin']}"}
    url = f"http://hook-user:{PASSWORD}@127.0.0.1:{receiver.port}/hook?token={TOKEN}"
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")  # an operator who turns httpx lines on
    with TestClient(app) as c:
        hook = c.post("/webhooks", json={"url": url, "event_types": ["*"]}, headers=admin)
        assert hook.status_code == 201, hook.text
        r = c.post(
            "/tickets",
            json={"asset": make_asset(), "title": "x"},
            headers={"Authorization": f"Bearer {sec_tokens['dispatcher']}"},
        )
        assert r.status_code == 201, r.text
        assert app.state.webhooks.deliver_due() >= 1
        c.delete(f"/webhooks/{hook.json()['id']}", headers=admin)
    assert receiver.hits >= 1
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any(f"***@127.0.0.1:{receiver.port}/hook?token=***" in m for m in requests), requests
    assert PASSWORD not in caplog.text and TOKEN not in caplog.text
