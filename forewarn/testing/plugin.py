"""Pytest fixtures over real servers, loaded through the ``pytest11`` entry point.

The server under test is named by ``FOREWARN_TEST_DSN`` (an admin DSN on a TimescaleDB
server; default: the private cluster that ``scripts/services.sh`` starts). Each test session
gets its own freshly migrated database and its own Mosquitto on a free port.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from forewarn import db as fdb
from forewarn.errors import ServiceUnavailable
from forewarn.settings import Settings, load
from forewarn.testing.servers import Broker, PgCluster

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:54329/postgres"


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="forewarn-test-") as d:
        os.chmod(d, 0o755)
        yield Path(d)


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    dsn = os.environ.get("FOREWARN_TEST_DSN", DEFAULT_ADMIN_DSN)
    try:
        with fdb.connect(dsn, timeout=3):
            pass
    except ServiceUnavailable as exc:
        pytest.exit(f"{exc}\n(run the tests with `make test`, which starts it)", returncode=3)
    return dsn


@pytest.fixture(scope="session")
def dsn(admin_dsn: str) -> Iterator[str]:
    """A migrated database of its own for this test session."""
    name = f"fw_test_{os.getpid()}_{secrets.token_hex(3)}"
    url = fdb.create_database(admin_dsn, name)
    fdb.migrate(url)
    yield url
    if not os.environ.get("FOREWARN_KEEP_TEST_DB"):
        fdb.drop_database(admin_dsn, name)


@pytest.fixture
def db(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with fdb.connect(dsn, autocommit=True) as conn:
        yield conn


class MosquittoFactory:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.brokers: list[Broker] = []

    def __call__(self, extra_conf: str = "", **kw: Any) -> Broker:
        home = self.base / f"mqtt-{len(self.brokers)}"
        broker = Broker(home=home, extra_conf=extra_conf, **kw).start()
        self.brokers.append(broker)
        return broker

    def close(self) -> None:
        for b in self.brokers:
            b.kill()


@pytest.fixture(scope="session")
def mosquitto_factory(workdir: Path) -> Iterator[MosquittoFactory]:
    factory = MosquittoFactory(workdir)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def broker(mosquitto_factory: MosquittoFactory) -> Broker:
    """A private broker for this test session (zero-loss queue settings)."""
    return mosquitto_factory()


@pytest.fixture
def pg_cluster(workdir: Path) -> Iterator[PgCluster]:
    """A throw-away TimescaleDB cluster that a fault test may stop and restart."""
    cluster = PgCluster(home=workdir / f"pg-{secrets.token_hex(3)}").start()
    yield cluster
    with contextlib.suppress(Exception):  # already stopped by the test
        cluster.stop("immediate")


@pytest.fixture
def settings(dsn: str, broker: Broker) -> Settings:
    """Settings pointing at this session's database and broker."""
    return load(
        path=os.devnull,
        environ={"FOREWARN_DATABASE__DSN": dsn, "FOREWARN_MQTT__URL": broker.url},
    )
