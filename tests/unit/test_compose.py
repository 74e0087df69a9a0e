"""docker-compose.yml and deploy/ are production-shaped (issue 14, item 10): no credential
has a default, published ports bind to localhost unless asked, no demo seed, no anonymous
broker, services and devices on separate broker listeners with the services' ACLs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.credentials import SERVICE_RULES, gateway_rules

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
TEXT = (ROOT / "docker-compose.yml").read_text()
VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<op>:?[-?])?(?P<rest>[^}]*)\}")
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN")


def _services() -> dict[str, dict[str, Any]]:
    return dict(COMPOSE["services"])


def _env(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_no_secret_has_a_default_and_every_secret_is_in_the_example() -> None:
    """Tried: the old ``${POSTGRES_PASSWORD:-forewarn}``; a secret written inline."""
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    secrets = set()
    for m in VAR.finditer(TEXT):
        name, op = m["name"], m["op"]
        assert name in example, f"${{{name}}} is not in .env.example"
        if SECRET.search(name):
            assert op == ":?", f"${{{name}}} must be required (:?), not {op!r}{m['rest']}"
            secrets.add(name)
    assert {"POSTGRES_PASSWORD", "INGEST_MQTT_PASSWORD", "TICKETING_MQTT_PASSWORD"} <= secrets
    for line in (ROOT / ".env.example").read_text().splitlines():
        key, _, value = line.partition("=")
        if SECRET.search(key) and not line.startswith("#"):
            assert value == "", f"{key} in .env.example must be empty (the user fills it)"
    for name, svc in _services().items():
        for key, value in _env(svc).items():
            if SECRET.search(key):
                assert VAR.fullmatch(value), f"{name}: {key} is not taken from .env"
        dsn = _env(svc).get("FOREWARN_DATABASE__DSN", "")
        assert not dsn or "${POSTGRES_PASSWORD:?" in dsn, f"{name}: DSN password not from .env"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_published_ports_bind_to_localhost_unless_asked() -> None:
    for name, svc in _services().items():
        for port in svc.get("ports", []):
            assert isinstance(port, str), f"{name}: {port} (a number binds all interfaces)"
            host, _, rest = port.replace("${FOREWARN_BIND:-127.0.0.1}", "BIND").partition(":")
            assert rest.count(":") == 1, f"{name}: {port} binds all interfaces"
            assert host in ("127.0.0.1", "BIND"), f"{name}: {port}"
    assert "FOREWARN_BIND=127.0.0.1" in (ROOT / ".env.example").read_text()
    assert "ports" not in _services()["migrate"]


def test_no_demo_seed_and_the_simulator_only_on_request() -> None:
    for name, svc in _services().items():
        assert "--demo-seed" not in " ".join(map(str, svc.get("command", []))), name
    assert _services()["sim"].get("profiles") == ["demo"]
    ingest = _services()["ingest"]
    # Replicas of one worker would share one client id and kick each other off.
    assert "replicas" not in ingest.get("deploy", {}) and "--workers" in ingest["command"]


def _listeners(conf: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in conf.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        if key == "listener":
            current = out.setdefault(value.split()[0], {})
        elif current is not None:
            current[key] = value
    return out


def test_broker_has_no_anonymous_listener_and_binds_devices_to_their_user() -> None:
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    assert "per_listener_settings true" in conf
    listeners = _listeners(conf)
    assert set(listeners) == {"1883", "1884"}
    for port, opts in listeners.items():
        assert opts.get("allow_anonymous") == "false", port
        assert opts.get("password_file") and opts.get("acl_file"), port
    assert listeners["1883"].get("use_username_as_clientid") == "true"
    assert "devices" in listeners["1883"]["password_file"]
    assert "services" in listeners["1884"]["password_file"]
    published = _services()["mosquitto"]["ports"]
    assert all(p.endswith(":1883") for p in published), "the services' listener stays inside"
    for name in ("ingest", "detectors", "ticketing"):
        env = _env(_services()[name])
        assert env["FOREWARN_MQTT__URL"].endswith(":1884") and env["FOREWARN_MQTT__USERNAME"]
    assert _env(_services()["sim"])["FOREWARN_MQTT__URL"].endswith(":1883")


def _acl(text: str) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("user "):
            current = users.setdefault(line.split()[1], [])
        elif line and not line.startswith("#"):
            current.append(line)
    return users


def test_deploy_acls_are_the_service_rules() -> None:
    """deploy/services.acl and deploy/sim.acl are what ``forewarn gateway
    service-credentials`` writes: one source of truth for least privilege."""
    services = _acl((ROOT / "deploy" / "services.acl").read_text())
    sim = _acl((ROOT / "deploy" / "sim.acl").read_text())
    assert {**services, **sim} == SERVICE_RULES
    script = (ROOT / "deploy" / "broker-users.sh").read_text()
    for user in SERVICE_RULES:
        assert f"{user.upper()}_MQTT_PASSWORD" in script
        assert f"{user.upper()}_MQTT_PASSWORD" in _env(_services()["broker-users"])


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd")
def test_broker_users_script_writes_the_same_users_and_rules(tmp_path: Path) -> None:
    """deploy/broker-users.sh run for real (paths redirected): the services' users, then a
    gateway with exactly ``gateway_rules``. Tried: a missing password, an id with a newline
    (an ACL injection), a reserved gateway id."""
    script = str(ROOT / "deploy" / "broker-users.sh")
    base = {
        "PATH": os.environ["PATH"],
        "FOREWARN_AUTH_DIR": str(tmp_path),
        "FOREWARN_DEPLOY_DIR": str(ROOT / "deploy"),
    }
    pw = {f"{u.upper()}_MQTT_PASSWORD": f"pw-{u}" for u in SERVICE_RULES}

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", script, *args], env={**base, **env}, capture_output=True, text=True
        )

    missing = run(**{**pw, "TICKETING_MQTT_PASSWORD": ""})
    assert missing.returncode == 1 and "no password for ticketing" in missing.stderr
    assert run(**pw).returncode == 0
    assert _acl((tmp_path / "services.acl").read_text()) == {
        u: r for u, r in SERVICE_RULES.items() if u != "sim"
    }
    ok = run("gateway", "gw-n1", "north", GATEWAY_PASSWORD="pw-gw")
    assert ok.returncode == 0, ok.stderr
    devices = _acl((tmp_path / "devices.acl").read_text())
    assert devices == {"sim": SERVICE_RULES["sim"], "gw-n1": gateway_rules("north", "gw-n1")}
    users = [line.split(":")[0] for line in (tmp_path / "devices.passwd").read_text().split()]
    assert sorted(users) == ["gw-n1", "sim"]
    assert "pw-" not in (tmp_path / "devices.passwd").read_text()
    for args, why in [
        (("gateway", "gw\nuser admin", "north"), "invalid gateway"),
        (("gateway", "gw-2", "north/#"), "invalid site"),
        (("gateway", "forewarn-ingest-solo-0", "north"), "reserved"),
        (("gateway", "gw-3", "north"), "no password"),
    ]:
        bad = run(*args, GATEWAY_PASSWORD="" if why == "no password" else "x")
        assert bad.returncode == 1 and why in bad.stderr, (args, bad.stderr)
    assert _acl((tmp_path / "devices.acl").read_text()) == devices, "nothing half-written"
