"""Fixtures for the console: the real ticketing app on the real test database."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forewarn import db as fdb
from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.auth import create_token

sys.path.insert(0, str(Path(__file__).parent))
from console_helpers import auth, uid

pytestmark = pytest.mark.integration
ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings, background=False, mqtt=False)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def browser_client(app: Any) -> Iterator[Callable[[], TestClient]]:
    """Extra clients on the same app: each is one browser with its own cookie jar."""
    opened: list[TestClient] = []

    def make() -> TestClient:
        c = TestClient(app)
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture(scope="session")
def console_tokens(dsn: str) -> dict[str, str]:
    out = {}
    with fdb.connect(dsn, autocommit=True) as conn:
        for role in ("admin", "dispatcher", "integration"):
            out[role] = create_token(conn, f"console-{role}-{uid()}", role)[1]
    return out


@pytest.fixture
def engineer(
    client: TestClient, console_tokens: dict[str, str], dsn: str
) -> Callable[..., tuple[int, str]]:
    """A new engineer and a token for them: (id, token)."""

    def make(name: str | None = None, **kw: Any) -> tuple[int, str]:
        body = {
            "name": name or f"Eng {uid()}",
            "shifts": ALL_DAY,
            "home_lat": 52.1,
            "home_lon": 5.0,
            **kw,
        }
        r = client.post("/engineers", json=body, headers=auth(console_tokens["dispatcher"]))
        assert r.status_code == 201, r.text
        eid = int(r.json()["id"])
        with fdb.connect(dsn, autocommit=True) as conn:
            return eid, create_token(conn, f"console-eng-{eid}", "engineer", eid)[1]

    return make
