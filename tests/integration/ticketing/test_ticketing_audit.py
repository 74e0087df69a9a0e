"""The audit chain verifies, refuses updates, and a tampered row is detected (API and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from ticketing_helpers import auth, uid


def _run(dsn: str, *args: str) -> Any:
    """The tickets CLI in-process (typer's runner); errors come back as ``.exception``."""
    from typer.testing import CliRunner

    from ticketing.tickets_cli import app

    return CliRunner().invoke(
        app, list(args), env={"FOREWARN_DATABASE__DSN": dsn, "COLUMNS": "200"}
    )


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``forewarn tickets`` command, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "forewarn", "tickets", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FOREWARN_DATABASE__DSN": dsn, "COLUMNS": "200"},
        timeout=60,
    )


def test_chain_verifies_and_detects_a_tampered_row(client, tokens, make_asset, db, dsn) -> None:
    r = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(f"pump_{uid()}"), "title": "audit me"},
    )
    tid = r.json()["ticket"]["id"]
    client.patch(f"/tickets/{tid}", json={"priority": "P0"}, headers=auth(tokens["dispatcher"]))
    ok = client.get("/audit/verify", headers=auth(tokens["admin"])).json()
    assert ok["ok"] is True and ok["events"] >= 2
    cli = _run(dsn, "verify")
    assert cli.exit_code == 0 and "audit chain verified" in cli.output

    # The table refuses in-place changes ...
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("update audit_events set actor = 'mallory' where entity_id = %s", (str(tid),))
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("delete from audit_events where entity_id = %s", (str(tid),))

    # ... so an attacker with owner rights disables the trigger and rewrites history.
    seq, body = db.execute(
        "select seq, body from audit_events where entity_id = %s and action = 'updated'",
        (str(tid),),
    ).fetchone()
    forged = body.replace('"P0"', '"P2"')
    assert forged != body
    db.execute("alter table audit_events disable trigger audit_events_no_update")
    try:
        db.execute("update audit_events set body = %s where seq = %s", (forged, seq))
        broken = client.get("/audit/verify", headers=auth(tokens["admin"])).json()
        assert broken == {
            "ok": False,
            "events": None,
            "broken_at": seq,
            "reason": "content does not match its hash (body changed)",
        }
        cli = _cli(dsn, "verify")
        assert cli.returncode == 1 and f"broken at event {seq}" in cli.stdout
        # Recomputing the hash too breaks the link to the next event.
        from ticketing.store import chain_hash

        prev = db.execute("select prev_hash from audit_events where seq = %s", (seq,)).fetchone()[0]
        db.execute(
            "update audit_events set hash = %s where seq = %s", (chain_hash(prev, forged), seq)
        )
        nxt = db.execute("select min(seq) from audit_events where seq > %s", (seq,)).fetchone()[0]
        if nxt is not None:
            again = client.get("/audit/verify", headers=auth(tokens["admin"])).json()
            assert again["ok"] is False and again["broken_at"] == nxt
    finally:
        orig_prev = db.execute(
            "select prev_hash from audit_events where seq = %s", (seq,)
        ).fetchone()[0]
        from ticketing.store import chain_hash

        db.execute(
            "update audit_events set body = %s, hash = %s where seq = %s",
            (body, chain_hash(orig_prev, body), seq),
        )
        db.execute("alter table audit_events enable trigger audit_events_no_update")
    assert client.get("/audit/verify", headers=auth(tokens["admin"])).json()["ok"] is True


def test_every_change_is_audited_with_actor_and_role(
    client, tokens, make_asset, make_engineer
) -> None:
    cls = f"fan_{uid()}"
    eng = make_engineer("audited", asset_classes=[cls])
    r = client.post(
        "/tickets",
        headers=auth(tokens["integration"]),
        json={"asset": make_asset(cls), "title": "x", "source": "scheduled"},
    )
    tid = r.json()["ticket"]["id"]
    events: list[dict[str, Any]] = client.get(
        f"/tickets/{tid}/events", headers=auth(tokens["admin"])
    ).json()
    assert [(e["action"], e["actor"], e["role"]) for e in events] == [
        ("created", "test-integration", "integration"),
        ("assigned", "system", "system"),
    ]
    assert events[1]["before"] == {"engineer_id": None, "state": "new"}
    assert events[1]["after"]["engineer_id"] == eng


def test_cli_lists_shows_assigns_resolves_and_manages_tokens(
    client, tokens, make_asset, make_engineer, dsn
) -> None:
    cls = f"pump_{uid()}"
    make_engineer("cli-a", asset_classes=[cls])
    b = make_engineer("cli-b", asset_classes=[])
    asset = make_asset(cls)
    tid = client.post(
        "/tickets", headers=auth(tokens["dispatcher"]), json={"asset": asset, "title": "cli"}
    ).json()["ticket"]["id"]
    out = _run(dsn, "list", "--site", "site-a", "--limit", "500")
    assert out.exit_code == 0 and asset in out.output
    out = _run(dsn, "assign", str(tid), str(b), "--reason", "phone call")
    assert out.exit_code == 0 and f"assigned to engineer {b}" in out.output
    out = _run(dsn, "show", str(tid))
    assert out.exit_code == 0 and "Manual assignment to cli-b" in out.output
    assert "cli:" in out.output and "reassigned" in out.output
    out = _run(dsn, "resolve", str(tid), "--code", "fixed")
    assert out.exit_code != 0 and "cannot go from 'assigned' to 'resolved'" in str(out.exception)

    made = _run(dsn, "token", "create", "ci-bot", "--role", "integration")
    assert made.exit_code == 0
    token = made.output.strip().splitlines()[-1]
    assert client.get("/me", headers=auth(token)).json()["role"] == "integration"
    assert _run(dsn, "token", "revoke", "ci-bot").exit_code == 0
    r = client.get("/me", headers=auth(token))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    bad = _run(dsn, "token", "create", "x", "--role", "root")
    assert bad.exit_code != 0 and "role must be one of" in str(bad.exception)
    stored = client.app.state.store.read(
        lambda tx: tx.all("select token_hash from api_tokens where name = 'ci-bot'")
    )
    assert stored and all(token not in r["token_hash"] for r in stored)
