"""``forewarn status`` reports the services of the configuration in use; ``forewarn
tickets list`` speaks JSON and does not cut columns in a pipe.

Faults tried: a demo state file left by a demo that runs against another database and
broker (must not be listed); a service whose probes answer "unready".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from forewarn import observe
from forewarn.settings import load
from forewarn.supervisor import ROOT, configuration

pytestmark = pytest.mark.integration


def forewarn(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forewarn", *args],
        env={**os.environ, "FOREWARN_CONFIG": os.devnull, "COLUMNS": "250", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_lists_only_this_configurations_services(
    dsn: str, broker: Any, tmp_path: Path
) -> None:
    env = {
        "FOREWARN_DATABASE__DSN": dsn,
        "FOREWARN_MQTT__URL": broker.url,
        "FOREWARN_RUN_DIR": str(tmp_path),
    }
    state = tmp_path / "demo.json"
    other = {"database": "postgresql://postgres@127.0.0.1:1/other", "mqtt": "mqtt://127.0.0.1:2"}
    state.write_text(json.dumps({"config": other, "services": {"ingest": os.getpid()}}))
    ready = observe.ProbeServer(CollectorRegistry(), {}, "127.0.0.1", 0).start()
    unready = observe.ProbeServer(
        CollectorRegistry(), {"database": observe.database_check("host=127.0.0.1 port=1")},
        "127.0.0.1", 0,
    ).start()  # fmt: skip
    env["FOREWARN_OBSERVE__INGEST_PORT"] = str(ready.port)
    env["FOREWARN_OBSERVE__DETECTORS_PORT"] = str(unready.port)
    try:
        out = forewarn(env, "status")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "demo ingest" not in out.stdout  # another pipeline's processes
        lines = {ln.split()[1]: ln for ln in out.stdout.splitlines() if ln.count("│") > 2}
        assert "ready" in lines["ingest"] and str(ready.port) in lines["ingest"]
        assert "unready" in lines["detectors"] and "database" in lines["detectors"]
        assert "no answer" in lines["gateway"] or "ready" in lines["gateway"]
        mine = load(path=os.devnull, environ=env)
        state.write_text(
            json.dumps({"config": configuration(mine), "services": {"ingest": os.getpid()}})
        )
        out = forewarn(env, "status")
        assert "demo ingest" in out.stdout and f"pid {os.getpid()}" in out.stdout
    finally:
        ready.stop()
        unready.stop()


def test_tickets_list_json_and_whole_columns_in_a_pipe(dsn: str, db: Any) -> None:
    asset = "a-very-long-asset-name-that-a-table-would-cut-" + uuid.uuid4().hex
    db.execute("insert into assets (asset, site) values (%s, 'site-with-a-long-name')", (asset,))
    db.execute(
        "insert into tickets (tracking_code, asset, site, source, priority, title, created_at,"
        " updated_at) values (%s, %s, 'site-with-a-long-name', 'manual', 'P2', 'cli', now(),"
        " now())",
        (uuid.uuid4().hex[:10].upper(), asset),
    )
    env = {"FOREWARN_DATABASE__DSN": dsn}
    out = forewarn(env, "tickets", "list", "--json", "--limit", "500")
    assert out.returncode == 0, out.stderr
    mine = [t for t in json.loads(out.stdout) if t["asset"] == asset]
    assert len(mine) == 1 and mine[0]["state"] == "new" and mine[0]["priority"] == "P2"
    assert mine[0]["created_at"].endswith("+00:00")  # ISO 8601, not the table's format
    out = forewarn({**env, "COLUMNS": "60"}, "tickets", "list", "--limit", "500")
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split("\t")[:3] == ["id", "pri", "state"]
    assert any(row.split("\t")[5] == asset for row in rows)
