"""Broker users for Sparkplug B: ingest with Sparkplug intake on, and edge nodes.

Tried: ``--sparkplug`` for a service other than ingest, an edge node id or group with a
wildcard or a '/' (which would widen its rules to other nodes), an edge node named like a
service's client id. The shipped deploy ACL must equal what the command writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.credentials import (
    SERVICE_RULES,
    SPARKPLUG_INGEST_RULES,
    CredentialsError,
    service_rules,
    sparkplug_node_rules,
)

ROOT = Path(__file__).resolve().parents[3]
needs_passwd = pytest.mark.skipif(
    shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd"
)


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


def test_ingest_rules_grow_only_with_sparkplug() -> None:
    assert service_rules("ingest") == SERVICE_RULES["ingest"]
    with_spb = service_rules("ingest", sparkplug=True)
    assert with_spb[0] == SERVICE_RULES["ingest"][0]
    assert set(with_spb) == set(SERVICE_RULES["ingest"]) | set(SPARKPLUG_INGEST_RULES)
    assert len(with_spb) == len(set(with_spb))  # no rule twice
    assert "topic write spBv1.0/+/NCMD/+" in with_spb  # rebirth requests
    assert not any("DCMD" in r for r in with_spb)  # ingest never commands devices
    with pytest.raises(CredentialsError, match="for ingest"):
        service_rules("detectors", sparkplug=True)


def test_edge_node_rules_are_its_own_topics_only() -> None:
    assert sparkplug_node_rules("plant1", "edge-7") == [
        "topic write spBv1.0/plant1/+/edge-7",
        "topic write spBv1.0/plant1/+/edge-7/+",
        "topic read spBv1.0/plant1/NCMD/edge-7",
        "topic read spBv1.0/plant1/DCMD/edge-7/+",
    ]
    for group, edge in [("+", "e"), ("g", "#"), ("g/x", "e"), ("g", "e/NDATA")]:
        with pytest.raises(CredentialsError, match="invalid"):
            sparkplug_node_rules(group, edge)


def test_deploy_sparkplug_acl_is_what_the_command_writes() -> None:
    """deploy/services-sparkplug.acl = the services' rules with ingest's Sparkplug ones."""
    shipped = _acl((ROOT / "deploy" / "services-sparkplug.acl").read_text())
    want = {s: service_rules(s, sparkplug=s == "ingest") for s in SERVICE_RULES if s != "sim"}
    assert shipped == want
    plain = _acl((ROOT / "deploy" / "services.acl").read_text())
    assert {k: v for k, v in shipped.items() if k != "ingest"} == {
        k: v for k, v in plain.items() if k != "ingest"
    }


@needs_passwd
def test_cli_writes_ingest_and_edge_node_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREWARN_CONFIG", "/dev/null")
    sp, sa = tmp_path / "services.passwd", tmp_path / "services.acl"
    dp, da = tmp_path / "devices.passwd", tmp_path / "devices.acl"
    svc = ["--passwd", str(sp), "--acl", str(sa)]
    dev = ["--passwd", str(dp), "--acl", str(da)]
    runner = CliRunner()
    ok = runner.invoke(app, ["service-credentials", "ingest", "--sparkplug", *svc])
    assert ok.exit_code == 0, ok.output
    ok = runner.invoke(app, ["sparkplug-credentials", "edge-7", "--group", "plant1", *dev])
    assert ok.exit_code == 0, ok.output
    assert _acl(sa.read_text()) == {"ingest": service_rules("ingest", sparkplug=True)}
    assert _acl(da.read_text()) == {"edge-7": sparkplug_node_rules("plant1", "edge-7")}
    users = [line.split(":")[0] for line in dp.read_text().split()]
    assert users == ["edge-7"]
    for args, why in [
        (["service-credentials", "ticketing", "--sparkplug", *svc], "for ingest"),
        (["sparkplug-credentials", "edge-8", "--group", "plant/#", *dev], "invalid group"),
        (["sparkplug-credentials", "forewarn-ingest-solo-0", "--group", "g", *dev], "reserved"),
    ]:
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2 and why in bad.output, bad.output
        assert bad.exception is None or isinstance(bad.exception, SystemExit)
    assert _acl(da.read_text()) == {"edge-7": sparkplug_node_rules("plant1", "edge-7")}


@needs_passwd
def test_broker_users_script_installs_the_sparkplug_acl_when_asked(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "FOREWARN_AUTH_DIR": str(tmp_path),
        "FOREWARN_DEPLOY_DIR": str(ROOT / "deploy"),
        **{f"{u.upper()}_MQTT_PASSWORD": f"pw-{u}" for u in SERVICE_RULES},
    }
    script = ["sh", str(ROOT / "deploy" / "broker-users.sh")]
    for flag, ingest in [("", SERVICE_RULES["ingest"]), ("true", service_rules("ingest", True))]:
        run = subprocess.run(
            script, env={**env, "INGEST_SPARKPLUG": flag}, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        assert _acl((tmp_path / "services.acl").read_text())["ingest"] == ingest
