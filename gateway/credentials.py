"""Per-gateway and per-service MQTT credentials and ACLs for Mosquitto.

Each gateway gets its own user, allowed to publish only its site's telemetry and its own
status (``forewarn/v1/<site>/+/telemetry``, ``forewarn/v1/<site>/gateways/<gw>/status``),
so a stolen gateway password can neither forge another site nor forge anomalies, ticket
events or another gateway's status. Each service gets its own user with least privilege
(``SERVICE_RULES``). Gateways and services live in separate password/ACL files, served on
separate listeners (deploy/mosquitto.conf): the device listener binds every client id to
its user name, so a device password cannot take over a service's persistent session.
Passwords are hashed by Mosquitto's own ``mosquitto_passwd`` (fed on stdin, never on the
command line where ``ps`` would show it). Mosquitto reads the files at start and on SIGHUP.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from forewarn.contract.topics import ROOT, check_id
from forewarn.errors import ForewarnError

_USER = re.compile(r"^\s*user\s+(\S+)\s*$")


class CredentialsError(ForewarnError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# Least privilege per service. ``sim`` is a fleet of MQTT-native devices (device listener).
SERVICE_RULES: dict[str, list[str]] = {
    "ingest": [f"topic read {ROOT}/+/+/telemetry"],
    "detectors": [f"topic read {ROOT}/+/+/telemetry", f"topic write {ROOT}/+/+/anomaly"],
    # detector feedback travels by table only (forewarn.contract.tickets), never on MQTT
    "ticketing": [
        f"topic read {ROOT}/+/+/anomaly",
        f"topic write {ROOT}/+/tickets/+/event",
        f"topic write {ROOT}/+/stock/low",
    ],
    "sim": [f"topic write {ROOT}/+/+/telemetry"],
}


# Ingest with Sparkplug intake on (``sparkplug.enabled``): it reads every Sparkplug group,
# asks edge nodes for rebirths, publishes their births/deaths in the gateway status model
# and republishes the decoded batches as v1 JSON telemetry for the detectors.
SPARKPLUG_NS = "spBv1.0"
SPARKPLUG_INGEST_RULES: list[str] = [
    f"topic read {SPARKPLUG_NS}/+/+/+",
    f"topic read {SPARKPLUG_NS}/+/+/+/+",
    f"topic write {SPARKPLUG_NS}/+/NCMD/+",
    f"topic write {ROOT}/+/gateways/+/status",
    f"topic write {ROOT}/+/+/telemetry",
]


def service_rules(service: str, sparkplug: bool = False) -> list[str]:
    """A service's ACL lines; ``sparkplug`` adds what ingest's Sparkplug intake needs."""
    if service not in SERVICE_RULES:
        raise CredentialsError(f"unknown service {service!r}: one of {', '.join(SERVICE_RULES)}")
    if sparkplug and service != "ingest":
        raise CredentialsError(f"--sparkplug is for ingest (Sparkplug intake), not {service!r}")
    extra = [r for r in SPARKPLUG_INGEST_RULES if r not in SERVICE_RULES[service]]
    return SERVICE_RULES[service] + (extra if sparkplug else [])


def sparkplug_node_rules(group: str, edge: str) -> list[str]:
    """ACL lines of Sparkplug edge node ``edge`` of ``group``: its own births, data and
    deaths (node and devices) and its commands, nothing of another node or group."""
    try:
        group, edge = check_id(group, "group"), check_id(edge, "edge node")
    except ForewarnError as exc:  # a '/', '+' or '#' would widen the rules
        raise CredentialsError(str(exc)) from None
    return [
        f"topic write {SPARKPLUG_NS}/{group}/+/{edge}",
        f"topic write {SPARKPLUG_NS}/{group}/+/{edge}/+",
        f"topic read {SPARKPLUG_NS}/{group}/NCMD/{edge}",
        f"topic read {SPARKPLUG_NS}/{group}/DCMD/{edge}/+",
    ]


def gateway_rules(site: str, gateway: str) -> list[str]:
    """ACL lines of a gateway: its site's telemetry and its own retained status, nothing
    else (no anomalies, ticket events, feedback or another gateway's status)."""
    site = check_id(site, "site")
    return [
        f"topic write {ROOT}/{site}/+/telemetry",
        f"topic write {ROOT}/{site}/gateways/{check_id(gateway, 'gateway')}/status",
    ]


def check_device_user(user: str, service_prefix: str) -> str:
    """A device user name is its client id on the device listener; refuse one that could
    equal a service's client id (``<prefix>-...``), which would take over its session."""
    if user.lower().startswith(f"{service_prefix.lower()}-") or user in SERVICE_RULES:
        raise CredentialsError(
            f"user name {user!r} is reserved for services (prefix {service_prefix!r}-, "
            f"or one of {', '.join(SERVICE_RULES)}): pick another gateway id"
        )
    return user


def set_password(passwd: Path, user: str, password: str) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise CredentialsError("mosquitto_passwd not found (install the mosquitto package)")
    passwd.parent.mkdir(parents=True, exist_ok=True)
    if not passwd.exists():
        passwd.touch(mode=0o600)
    proc = subprocess.run(
        [tool, str(passwd), user],
        input=f"{password}\n{password}\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CredentialsError(f"mosquitto_passwd failed: {proc.stderr.strip() or proc.stdout}")
    os.chmod(passwd, 0o600)


def set_acl(acl: Path, user: str, rules: list[str], comment: str = "") -> None:
    """Replace (or append) the ACL block of ``user``; other users' blocks stay as they are."""
    lines = acl.read_text().splitlines() if acl.exists() else []
    out: list[str] = []
    skipping = False
    for line in lines:
        m = _USER.match(line)
        if m:
            skipping = m.group(1) == user
        if not skipping:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    if out:
        out.append("")
    if comment:
        out.append(f"# {comment}")
    out.append(f"user {user}")
    out.extend(rules)
    acl.parent.mkdir(parents=True, exist_ok=True)
    tmp = acl.with_suffix(".tmp")
    tmp.write_text("\n".join(out) + "\n")
    tmp.replace(acl)


def add_user(
    passwd: Path,
    acl: Path,
    user: str,
    rules: list[str],
    password: str | None = None,
    comment: str = "",
) -> str:
    """Create or update a user with its ACL; returns the password (generated when None)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", user):
        raise CredentialsError(f"invalid user name {user!r}")
    password = password or secrets.token_urlsafe(24)
    set_password(passwd, user, password)
    set_acl(acl, user, rules, comment)
    return password


def add_gateway(
    passwd: Path,
    acl: Path,
    gateway: str,
    site: str,
    password: str | None = None,
    service_prefix: str = "forewarn",
) -> str:
    check_device_user(check_id(gateway, "gateway"), service_prefix)
    return add_user(
        passwd,
        acl,
        gateway,
        gateway_rules(site, gateway),
        password,
        comment=f"forewarn gateway {gateway}, site {site}",
    )


def add_service(
    passwd: Path, acl: Path, service: str, password: str | None = None, sparkplug: bool = False
) -> str:
    """A service's own user (its name is the service's), with ``service_rules``."""
    rules = service_rules(service, sparkplug)
    comment = f"forewarn {service}" + (" (Sparkplug intake on)" if sparkplug else "")
    return add_user(passwd, acl, service, rules, password, comment=comment)


def add_sparkplug_node(
    passwd: Path,
    acl: Path,
    edge: str,
    group: str,
    password: str | None = None,
    service_prefix: str = "forewarn",
) -> str:
    """A Sparkplug edge node's user on the device listener (user name = edge node id, which
    that listener also forces as its client id)."""
    rules = sparkplug_node_rules(group, edge)
    check_device_user(edge, service_prefix)
    return add_user(
        passwd,
        acl,
        edge,
        rules,
        password,
        comment=f"Sparkplug B edge node {edge}, group {group}",
    )
