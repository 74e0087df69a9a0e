"""A real SMTP server (aiosmtpd) and a real HTTP receiver for notification tests."""

from __future__ import annotations

import email
import json
import threading
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from forewarn.testing import free_port


class Mailbox:
    """An SMTP server on a fixed port, so it can be stopped and started again (an outage)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[tuple[list[str], email.message.Message]] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def start(self) -> Mailbox:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def url(self, to: str, **auth: str) -> str:
        cred = f"{auth['user']}:{auth['password']}@" if auth else ""
        return (
            f"mailto://{cred}127.0.0.1:{self.port}?mode=insecure&from=forewarn@example.com&to={to}"
        )

    def to(self, rcpt: str) -> list[str]:
        """Subjects of the messages received for ``rcpt``."""
        return [
            str(make_header(decode_header(m["subject"]))) for tos, m in self.messages if rcpt in tos
        ]

    def bodies(self, rcpt: str) -> list[str]:
        """Plain-text bodies of the messages received for ``rcpt``."""
        out = []
        for tos, m in self.messages:
            if rcpt in tos:
                part = next((p for p in m.walk() if p.get_content_type() == "text/plain"), m)
                out.append(
                    part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
                )
        return out


class Receiver:
    """An HTTP endpoint for Apprise's ``json://`` URLs."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.got.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
