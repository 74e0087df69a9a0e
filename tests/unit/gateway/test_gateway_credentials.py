"""Least-privilege broker users (issue 14, items 2 and 4): what each user may publish, and
gateway ids that would collide with a service's client id are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.credentials import (
    SERVICE_RULES,
    CredentialsError,
    add_gateway,
    add_service,
    check_device_user,
    gateway_rules,
)


def test_gateway_may_write_only_its_telemetry_and_own_status() -> None:
    assert gateway_rules("site-a", "gw-1") == [
        "topic write forewarn/v1/site-a/+/telemetry",
        "topic write forewarn/v1/site-a/gateways/gw-1/status",
    ]


def test_only_detectors_write_anomalies_only_ticketing_writes_ticket_topics() -> None:
    writers = {
        user: [r.split()[-1] for r in rules if r.startswith("topic write")]
        for user, rules in SERVICE_RULES.items()
    }
    assert [u for u, w in writers.items() if any(t.endswith("/anomaly") for t in w)] == [
        "detectors"
    ]
    assert [u for u, w in writers.items() if any(t.endswith("/event") for t in w)] == ["ticketing"]
    # detector feedback travels by table only: no user may write a feedback topic
    assert not [t for w in writers.values() for t in w if t.endswith("/feedback")]
    assert writers["ingest"] == []


@pytest.mark.parametrize(
    "name", ["forewarn-ingest-solo-0", "Forewarn-ticketing", "ingest", "ticketing", "sim"]
)
def test_gateway_ids_that_could_be_a_service_client_id_are_refused(name: str) -> None:
    with pytest.raises(CredentialsError, match="reserved"):
        check_device_user(name, "forewarn")


def test_custom_prefix_is_reserved_too() -> None:
    check_device_user("forewarn-gw", "acme")
    with pytest.raises(CredentialsError, match="reserved"):
        check_device_user("acme-ingest-solo-0", "acme")


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd")
def test_service_and_gateway_files(tmp_path: Path) -> None:
    sp, sa = tmp_path / "services.passwd", tmp_path / "services.acl"
    pw = "plain-text-secret-4711"  # long enough never to turn up inside a random hash
    add_service(sp, sa, "ingest", pw)
    with pytest.raises(CredentialsError, match="unknown service"):
        add_service(sp, sa, "root", pw)
    dp, da = tmp_path / "devices.passwd", tmp_path / "devices.acl"
    with pytest.raises(CredentialsError, match="reserved"):
        add_gateway(dp, da, "forewarn-ingest-solo-0", "site-a", pw)
    add_gateway(dp, da, "gw-1", "site-a", pw)
    assert pw not in sp.read_text() + dp.read_text()
    assert "user ingest\ntopic read forewarn/v1/+/+/telemetry" in sa.read_text()
    assert "user gw-1\ntopic write forewarn/v1/site-a/+/telemetry" in da.read_text()


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd")
def test_cli_issues_service_users_and_refuses_reserved_gateway_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tried: a gateway named like ingest's client id; an unknown service; a password
    variable that is not set. Each is a one-line error, never a traceback."""
    from typer.testing import CliRunner

    from gateway.cli import app

    monkeypatch.setenv("FOREWARN_CONFIG", "/dev/null")
    monkeypatch.setenv("INGEST_PW", "secret-ingest-pw")
    sp, sa = tmp_path / "services.passwd", tmp_path / "services.acl"
    files = ["--passwd", str(sp), "--acl", str(sa)]
    ok = CliRunner().invoke(
        app, ["service-credentials", "ingest", *files, "--password-env", "INGEST_PW"]
    )
    assert ok.exit_code == 0, ok.output
    assert "secret-ingest-pw" not in ok.output + sp.read_text()
    assert "user ingest" in sa.read_text()
    for args, why in [
        (["credentials", "forewarn-ingest-solo-0", "--site", "s", *files], "reserved"),
        (["service-credentials", "root", *files], "unknown service"),
        (["service-credentials", "ingest", *files, "--password-env", "NOPE_PW"], "not set"),
    ]:
        bad = CliRunner().invoke(app, args)
        assert bad.exit_code == 2 and why in bad.output, bad.output
        assert bad.exception is None or isinstance(bad.exception, SystemExit)
