"""Per-gateway MQTT credentials and ACLs for Mosquitto.

Each gateway gets its own user, allowed to publish only under its own site
(``forewarn/v1/<site>/#``), so a stolen gateway password cannot forge another site's
telemetry. Passwords are hashed by Mosquitto's own ``mosquitto_passwd`` (fed on stdin,
never on the command line where ``ps`` would show it). Mosquitto reads both files at
start and on SIGHUP.
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


def gateway_rules(site: str) -> list[str]:
    """ACL lines of a gateway: write its own site's topics, nothing else."""
    return [f"topic write {ROOT}/{check_id(site, 'site')}/#"]


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
    passwd: Path, acl: Path, gateway: str, site: str, password: str | None = None
) -> str:
    check_id(gateway, "gateway")
    return add_user(
        passwd,
        acl,
        gateway,
        gateway_rules(site),
        password,
        comment=f"forewarn gateway {gateway}, site {site}",
    )
