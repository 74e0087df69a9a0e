"""HTTP hardening shared by the API and the console: security headers on every response,
and a bounded per-client rate limit on login and tracking-code lookups.

Both are plain ASGI middleware, so they cover every route (and the 413/429 answers of
other middleware) without touching the routes themselves.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The console serves its script and stylesheet from /console/static and renders no inline
# script, style or event handler, so no 'unsafe-inline' is needed. Framing is refused.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    # tracking codes and ticket ids sit in console URLs: send no Referer anywhere
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """Adds :data:`HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TokenBuckets:
    """Per-key token buckets (``burst`` requests, refilled at ``per_minute``), holding at
    most ``max_keys`` keys: the least recently seen key is forgotten first, so memory stays
    bounded whatever number of addresses calls (a forgotten client starts with a full
    bucket again)."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        with self.lock:
            now = self.clock()
            tokens, last = self.buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self.buckets[key] = (tokens, now)
            while len(self.buckets) > self.max_keys:
                self.buckets.popitem(last=False)
            return wait


@dataclass
class Rule:
    """Requests of ``method`` whose path matches ``pattern`` share ``buckets``."""

    name: str
    method: str
    pattern: re.Pattern[str]
    buckets: TokenBuckets


class RateLimit:
    """429 with ``Retry-After`` once a client address spends its bucket for a rule.

    Keyed by the client address the server reports (behind a reverse proxy, run uvicorn with
    ``--proxy-headers`` and ``--forwarded-allow-ips`` so that is the real client)."""

    def __init__(self, app: ASGIApp, rules: list[Rule]) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for rule in self.rules:
                if scope["method"] == rule.method and rule.pattern.match(scope["path"]):
                    client = scope.get("client")
                    wait = rule.buckets.take(f"{client[0] if client else '?'}")
                    if wait > 0:
                        await self._refuse(scope, rule, wait)(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)

    @staticmethod
    def _refuse(scope: Scope, rule: Rule, wait: float) -> Response:
        seconds = max(1, math.ceil(wait))
        message = f"too many {rule.name} requests from this address; retry in {seconds} s"
        headers = {"retry-after": str(seconds)}
        if scope["path"].startswith("/console"):
            return PlainTextResponse(message, status_code=429, headers=headers)
        return JSONResponse({"detail": message}, status_code=429, headers=headers)


def default_rules(login_per_minute: int, track_per_minute: int) -> list[Rule]:
    """Console login, and tracking-code lookups (API and console); bursts of one minute."""
    track = TokenBuckets(track_per_minute, track_per_minute)  # API and console share it
    return [
        Rule(
            "login",
            "POST",
            re.compile(r"^/console/login/?$"),
            TokenBuckets(login_per_minute, login_per_minute),
        ),
        # the console's form only redirects here, so the lookups themselves are what count
        Rule("tracking", "GET", re.compile(r"^/(console/)?track/[^/]+/?$"), track),
    ]
