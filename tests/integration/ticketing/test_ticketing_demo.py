"""The demo seed behind ``forewarn ticketing run --demo-seed`` (used by ``forewarn demo``)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ticketing_helpers import anomaly, auth, uid

from forewarn import db as fdb
from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.demo import ENGINEERS, seed


@pytest.fixture
def own(admin_dsn: str, settings: Settings) -> Iterator[tuple[str, Any, Any]]:
    """A database of its own: in the session's shared one, other tests' tickets load the demo
    engineers and other tests' engineers compete for the same alarm, so routing's choice
    would depend on which tests ran before."""
    name = f"fw_demo_seed_{os.getpid()}_{secrets.token_hex(3)}"
    url = fdb.create_database(admin_dsn, name)
    try:
        fdb.migrate(url)
        mine = settings.model_copy(
            update={"database": settings.database.model_copy(update={"dsn": url})}
        )
        with (
            TestClient(create_app(mine, background=False, mqtt=False)) as client,
            fdb.connect(url, autocommit=True) as conn,
        ):
            yield url, client, conn
    finally:
        fdb.drop_database(admin_dsn, name)


def test_demo_seed_is_repeatable_and_its_tokens_work(own: tuple[str, Any, Any]) -> None:
    dsn, client, db = own
    first = seed(dsn)
    again = seed(dsn)
    names = [e["name"] for e in ENGINEERS]
    count = db.execute("select count(*) from engineers where name = any(%s)", (names,)).fetchone()
    assert count == (len(ENGINEERS),)  # engineers once, fresh tokens each run
    assert {t for *_, t in first}.isdisjoint({t for *_, t in again})
    roles = {}
    for _name, role, token in again:
        r = client.get("/me", headers=auth(token))
        assert r.status_code == 200
        roles[role] = r.json()
    assert set(roles) == {"admin", "dispatcher", "integration", "engineer"}
    assert roles["engineer"]["engineer_id"] is not None
    integration = next(t for _, role, t in again if role == "integration")
    # A cavitation alarm on a pump in the north plant goes to the demo's pump specialist.
    asset = f"pump-{uid()}"
    ev = anomaly(asset, site="north", fault="cavitation", asset_class="centrifugal_pump")
    r = client.post("/anomalies", json=ev, headers=auth(integration))
    assert r.status_code == 201
    ada = db.execute("select id from engineers where name = 'Ada Pumps'").fetchone()[0]
    assert r.json()["engineer_id"] == ada
