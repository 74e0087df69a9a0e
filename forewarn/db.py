"""Database helpers: connections with clear failures, migrations, schema facts.

Migrations are plain SQL files in ``forewarn/migrations`` applied by yoyo, which records
them in the database, takes a lock so concurrent starts are safe, and lets a fresh and an
old database reach the same schema with one command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from forewarn.errors import MissingExtension, ServiceUnavailable

MIGRATIONS = Path(str(resources.files("forewarn") / "migrations"))


def redact(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if "password" in params:
        params["password"] = "***"
    host = params.get("host", "localhost")
    return f"{params.get('user', '')}@{host}:{params.get('port', 5432)}/{params.get('dbname', '')}"


def with_dbname(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


def _unavailable(dsn: str, exc: Exception) -> ServiceUnavailable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ServiceUnavailable(
        "database",
        redact(dsn),
        reason,
        "Start the private cluster with `scripts/services.sh start` or set "
        "database.dsn (FOREWARN_DATABASE__DSN) to a reachable TimescaleDB.",
    )


def connect(
    dsn: str, *, autocommit: bool = False, timeout: float = 5.0, **kw: Any
) -> psycopg.Connection[Any]:
    """Open a connection; raise ServiceUnavailable with a fix when it cannot."""
    try:
        return psycopg.connect(
            dsn, autocommit=autocommit, connect_timeout=max(1, int(timeout)), **kw
        )
    except psycopg.OperationalError as exc:
        raise _unavailable(dsn, exc) from None


async def aconnect(
    dsn: str, *, autocommit: bool = False, timeout: float = 5.0, **kw: Any
) -> psycopg.AsyncConnection[Any]:
    try:
        return await psycopg.AsyncConnection.connect(
            dsn, autocommit=autocommit, connect_timeout=max(1, int(timeout)), **kw
        )
    except psycopg.OperationalError as exc:
        raise _unavailable(dsn, exc) from None


def timescaledb_version(conn: psycopg.Connection[Any]) -> str:
    """The installed extension version; MissingExtension if it cannot be had."""
    row = conn.execute(
        "select coalesce((select extversion from pg_extension where extname='timescaledb'),"
        " (select default_version from pg_available_extensions where name='timescaledb'))"
    ).fetchone()
    if not row or row[0] is None:
        raise MissingExtension(
            redact(conn.info.dsn),
            "Run `scripts/setup.sh` (builds it for the local PostgreSQL) or use the "
            "timescale/timescaledb image (docker-compose.yml).",
        )
    return str(row[0])


def has_tsl(conn: psycopg.Connection[Any]) -> bool:
    """Whether community (TSL) features exist: compression, continuous aggregates, jobs."""
    row = conn.execute("select current_setting('timescaledb.license', true)").fetchone()
    return bool(row and row[0] == "timescale")


def _yoyo_url(dsn: str) -> str:
    p = conninfo_to_dict(dsn)
    auth = quote(str(p.get("user", "")))
    if p.get("password"):
        auth += ":" + quote(str(p["password"]))
    host = p.get("host", "localhost")
    port = p.get("port", 5432)
    return f"postgresql+psycopg://{auth}@{host}:{port}/{p.get('dbname', '')}"


def _backend_and_migrations(dsn: str) -> tuple[Any, Any]:
    from yoyo import get_backend, read_migrations

    with connect(dsn) as conn:  # a clear error before yoyo's own
        timescaledb_version(conn)
    return get_backend(_yoyo_url(dsn)), read_migrations(str(MIGRATIONS))


def migrate(dsn: str) -> list[str]:
    """Apply pending migrations; return their ids (empty when up to date)."""
    backend, migrations = _backend_and_migrations(dsn)
    with backend.lock():
        todo = backend.to_apply(migrations)
        backend.apply_migrations(todo)
    return [m.id for m in todo]


def pending(dsn: str) -> list[str]:
    backend, migrations = _backend_and_migrations(dsn)
    return [m.id for m in backend.to_apply(migrations)]


def schema_version(conn: psycopg.Connection[Any]) -> str | None:
    """Id of the newest applied migration, or None on an empty database."""
    try:
        row = conn.execute(
            "select migration_id from _yoyo_migration order by migration_id desc limit 1"
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        return None
    return str(row[0]) if row else None


def create_database(admin_dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_dsn``; return its DSN."""
    with connect(admin_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))
    return with_dbname(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    with connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("drop database if exists {} with (force)").format(
                psycopg.sql.Identifier(name)
            )
        )


@contextlib.contextmanager
def transaction(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection in one transaction, committed on success."""
    with connect(dsn) as conn, conn.transaction():
        yield conn
