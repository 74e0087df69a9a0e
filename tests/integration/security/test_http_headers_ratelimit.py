"""Issue 14 item 14: security headers on every response, no CDN-loaded /docs, and rate
limits on console login and tracking-code lookups.

Attacks tried: framing the console (clickjacking), MIME sniffing, Referer leaks of tracking
codes, script injection relying on inline script/style (the CSP has no 'unsafe-inline', so
the console itself must render none), loading /docs (CDN assets), guessing tracking codes
and hammering the login form from one address.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from security_helpers import uid

from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.config import ticketing_settings
from ticketing.httpsec import TokenBuckets

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # inline script
    re.compile(r"<style\b", re.I),  # inline stylesheet
    re.compile(r"\sstyle\s*=", re.I),  # style attribute
    re.compile(r"\son[a-z]+\s*=", re.I),  # event handler attribute
    re.compile(r"javascript:", re.I),
]


def _check_headers(r: object) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, (r, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"


def test_every_kind_of_response_carries_the_headers(
    client: TestClient, sec_tokens: dict[str, str]
) -> None:
    responses = [
        client.get("/openapi.json"),
        client.get("/tickets"),  # 401
        client.get("/tickets", headers={"Authorization": f"Bearer {sec_tokens['admin']}"}),
        client.get("/no-such-page"),  # 404
        client.post("/tickets", content=b"x" * 2_000_000),  # 413 from the body limit
        client.get("/track/AAAAAAAAAA"),  # public 404
        client.get("/console/login"),
        client.get("/console/static/console.css"),
        client.get("/console/board", follow_redirects=False),  # 303 to login
    ]
    assert [r.status_code for r in responses] == [200, 401, 200, 404, 413, 404, 200, 200, 303]
    for r in responses:
        _check_headers(r)


def test_console_pages_need_no_inline_script_or_style(
    client: TestClient, sec_tokens: dict[str, str], make_asset: Callable[..., str]
) -> None:
    """The CSP forbids inline code, so the console must work without: no page renders any."""
    admin = {"Authorization": f"Bearer {sec_tokens['admin']}"}
    r = client.post("/tickets", json={"asset": make_asset(), "title": "t"}, headers=admin)
    assert r.status_code == 201, r.text
    ticket = r.json()["ticket"]
    pages = [client.get("/console/login"), client.get(f"/console/track/{ticket['tracking_code']}")]
    client.cookies.set("fw_console", sec_tokens["admin"])
    for path in ("board", f"tickets/{ticket['id']}", "fleet", "map", "kpis"):
        pages.append(client.get(f"/console/{path}"))
    for page in pages:
        assert page.status_code == 200, (page.url, page.text[:200])
        _check_headers(page)
        for pattern in INLINE:
            found = pattern.search(page.text)
            assert found is None, f"{page.url}: inline {found.group(0)!r}" if found else ""


def test_docs_served_from_no_cdn(client: TestClient) -> None:
    """/docs and /redoc (CDN-loaded Swagger UI/ReDoc) are off; the schema stays."""
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "Forewarn ticketing"


@pytest.fixture
def limited(settings: Settings) -> TestClient:
    cfg = ticketing_settings(settings).model_copy(
        update={"login_per_minute": 3, "track_per_minute": 5}
    )
    return TestClient(create_app(settings, background=False, mqtt=False, config=cfg))


def test_tracking_lookups_are_rate_limited_per_address(limited: TestClient) -> None:
    with limited as c:
        codes = [f"ZZ{uid().upper()[:8]}".replace("0", "2").replace("1", "3") for _ in range(7)]
        got = [c.get(f"/track/{code}").status_code for code in codes[:5]]
        assert got == [404] * 5  # guesses, answered normally
        r = c.get(f"/console/track/{codes[5]}")  # the console shares the API's budget
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        r = c.get(f"/track/{codes[6]}")
        assert r.status_code == 429 and "retry in" in r.json()["detail"]
        _check_headers(r)
        # another address has its own budget
        other = TestClient(c.app, client=("192.0.2.7", 40000))
        assert other.get(f"/track/{codes[6]}").status_code == 404


def test_console_login_is_rate_limited(limited: TestClient, sec_tokens: dict[str, str]) -> None:
    with limited as c:
        statuses = [
            c.post("/console/login", data={"token": "fwt_guess", "csrf": "x"}).status_code
            for _ in range(3)
        ]
        assert 429 not in statuses
        r = c.post("/console/login", data={"token": sec_tokens["admin"], "csrf": "x"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_token_buckets_refill_and_stay_bounded() -> None:
    now = [0.0]
    b = TokenBuckets(per_minute=6, burst=2, max_keys=100, clock=lambda: now[0])
    assert b.take("a") == 0 and b.take("a") == 0
    assert b.take("a") == pytest.approx(10.0)  # one token every 10 s
    now[0] += 10
    assert b.take("a") == 0
    for i in range(10_000):  # an address sweep: memory stays at max_keys
        b.take(f"10.0.{i // 256}.{i % 256}")
    assert len(b.buckets) == 100
