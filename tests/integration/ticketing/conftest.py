"""Fixtures for the ticketing service: the real app on the real database, a manual clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from ticketing_helpers import DAY_SHIFT, MONDAY_9, auth, uid

from forewarn import db as fdb
from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.auth import create_token
from ticketing.clock import ManualClock

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # everything here talks to the real database (and broker)
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_9)


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Any:
    return create_app(settings, clock=clock, background=False, mqtt=False)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def tokens(dsn: str) -> dict[str, str]:
    out = {}
    with fdb.connect(dsn, autocommit=True) as conn:
        for role in ("admin", "dispatcher", "integration"):
            out[role] = create_token(conn, f"test-{role}", role)[1]
    return out


@pytest.fixture
def engineer_token(dsn: str) -> Callable[[int], str]:
    def make(engineer_id: int) -> str:
        with fdb.connect(dsn, autocommit=True) as conn:
            return create_token(conn, f"eng-{engineer_id}", "engineer", engineer_id)[1]

    return make


@pytest.fixture
def make_asset(db: psycopg.Connection[Any]) -> Callable[..., str]:
    def make(asset_class: str, site: str = "site-a", lat: float = 52.0, lon: float = 4.0) -> str:
        name = f"{asset_class[:40]}-{uid()}"
        db.execute(
            "insert into assets (asset, site, asset_class, lat, lon) values (%s, %s, %s, %s, %s)",
            (name, site, asset_class, lat, lon),
        )
        return name

    return make


@pytest.fixture
def make_engineer(client: TestClient, tokens: dict[str, str]) -> Callable[..., int]:
    def make(name: str, **kw: Any) -> int:
        body = {"name": name, "shifts": DAY_SHIFT, **kw}
        r = client.post("/engineers", json=body, headers=auth(tokens["dispatcher"]))
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    return make


@pytest.fixture
def live_server(settings: Settings, clock: ManualClock) -> Iterator[str]:
    """The app under a real uvicorn server on a free port (real sockets, real concurrency)."""
    from forewarn.testing import serve_asgi

    with serve_asgi(create_app(settings, clock=clock, background=False, mqtt=False)) as base:
        yield base
