"""Secrets are never logged: each service, at DEBUG, on a good start and on refused connections.

The MQTT password and the database password come from the environment (the way a deployment
passes them); the broker requires a password (password_file made with mosquitto_passwd).
Tried: the right MQTT password with a password in the DSN (clean start, then SIGTERM); a
wrong MQTT password (the broker refuses the connection); a DSN with a password pointing at
a port where no database listens (connection refused). Every log must say something about
the failure (so the check is not vacuous) and must not contain either secret.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import make_conninfo

from forewarn.testing import Broker, free_port
from gateway.credentials import set_password

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

MQTT_SECRET = "mqtt-" + secrets.token_hex(12)
DB_SECRET = "pg-" + secrets.token_hex(12)
USER = "svc"
SERVICES = {
    "ingest": ("ingest", "run"),
    "detectors": ("detectors", "run"),
    "ticketing": ("ticketing", "run", "--port", "0"),
}


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    home = tmp_path_factory.mktemp("mqtt-auth")
    set_password(home / "passwd", USER, MQTT_SECRET)
    broker = Broker(home=home).start()
    yield broker
    broker.kill()


def _run_all(env: dict[str, str], until: tuple[str, ...], logs: Path) -> dict[str, str]:
    """Run every service at once until each log shows one of ``until`` (or 30 s), stop them,
    return their logs (concurrently: startup is mostly imports, and the suite is bounded)."""
    procs, paths = {}, {}
    for name, args in SERVICES.items():
        paths[name] = logs / f"{name}.log"
        with open(paths[name], "wb") as out:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "forewarn", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    deadline = time.monotonic() + 30
    waiting = set(procs)
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            text = paths[name].read_text(errors="replace")
            if procs[name].poll() is not None or any(u in text for u in until):
                waiting.discard(name)
        time.sleep(0.2)
    time.sleep(1.0)  # let them say a little more (retries, tracebacks)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return {name: path.read_text(errors="replace") for name, path in paths.items()}


def _env(dsn: str, broker: Broker, mqtt_password: str) -> dict[str, str]:
    return {
        **os.environ,
        "FOREWARN_DATABASE__DSN": dsn,
        "FOREWARN_MQTT__URL": broker.url,
        "FOREWARN_MQTT__USERNAME": USER,
        "FOREWARN_MQTT__PASSWORD": mqtt_password,
        "FOREWARN_MQTT__CLIENT_ID_PREFIX": f"sec{os.getpid()}",
        "FOREWARN_LOG_LEVEL": "DEBUG",
        "COLUMNS": "200",
    }


def _assert_clean(text: str, *secret: str) -> None:
    for s in secret:
        assert s not in text, f"secret {s[:6]}… appears in the log:\n{text[-3000:]}"


def test_a_clean_start_logs_no_secret(auth_broker: Broker, dsn: str, tmp_path: Path) -> None:
    # The test cluster trusts local connections, so the password in the DSN is accepted
    # and ignored: the services run normally with a secret in their settings.
    with_pw = make_conninfo(dsn, password=DB_SECRET)
    ready = ("subscribed", "Application startup complete")
    logs = _run_all(_env(with_pw, auth_broker, MQTT_SECRET), ready, tmp_path)
    for name, text in logs.items():
        assert any(r in text for r in ready), f"{name}:\n{text[-3000:]}"
        _assert_clean(text, MQTT_SECRET, DB_SECRET)


def test_a_refused_broker_login_logs_no_secret(
    auth_broker: Broker, dsn: str, tmp_path: Path
) -> None:
    wrong = "wrong-" + secrets.token_hex(12)
    with_pw = make_conninfo(dsn, password=DB_SECRET)
    failed = ("refused", "not authori", "Not authori", "unavailable", "Bad user name")
    logs = _run_all(_env(with_pw, auth_broker, wrong), failed, tmp_path)
    for name, text in logs.items():
        assert any(f in text for f in failed), f"{name}: no sign of the refusal:\n{text[-3000:]}"
        _assert_clean(text, wrong, MQTT_SECRET, DB_SECRET)


def test_an_unreachable_database_logs_no_secret(auth_broker: Broker, tmp_path: Path) -> None:
    nowhere = f"postgresql://postgres:{DB_SECRET}@127.0.0.1:{free_port()}/forewarn"
    failed = ("unavailable", "refused", "failed")
    logs = _run_all(_env(nowhere, auth_broker, MQTT_SECRET), failed, tmp_path)
    for name, text in logs.items():
        assert any(f in text for f in failed), f"{name}: no sign of the failure:\n{text[-3000:]}"
        _assert_clean(text, MQTT_SECRET, DB_SECRET)
