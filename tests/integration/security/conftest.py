"""Fixtures for the security tests: the real ticketing app on this session's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from security_helpers import uid

from forewarn import db as fdb
from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.auth import create_token
from ticketing.config import ticketing_settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    # Hostile-input tests log in hundreds of times from one address; the rate limiter has
    # its own tests (test_http_headers_ratelimit.py), so it is out of their way here.
    cfg = ticketing_settings(settings).model_copy(
        update={"login_per_minute": 100_000, "track_per_minute": 100_000}
    )
    with TestClient(create_app(settings, background=False, mqtt=False, config=cfg)) as c:
        yield c


@pytest.fixture(scope="session")
def sec_tokens(dsn: str) -> dict[str, str]:
    with fdb.connect(dsn, autocommit=True) as conn:
        return {
            role: create_token(conn, f"sec-{role}-{uid()}", role)[1]
            for role in ("admin", "dispatcher", "integration")
        }


@pytest.fixture
def make_asset(db: psycopg.Connection[Any]) -> Callable[..., str]:
    def make(site: str = "site-sec", asset_class: str = "centrifugal_pump") -> str:
        name = f"sec-{uid()}"
        db.execute(
            "insert into assets (asset, site, asset_class, lat, lon) values (%s, %s, %s, 52, 4)",
            (name, site, asset_class),
        )
        return name

    return make
