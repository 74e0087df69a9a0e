"""`forewarn sim run` with both outputs on, against a private broker."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from device_sim.cli import app

pytestmark = pytest.mark.integration


def test_run_mqtt_and_modbus(broker, tmp_path: Path):
    dmap, truth = tmp_path / "devices.json", tmp_path / "truth.json"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = CliRunner().invoke(
        app,
        [
            "run",
            "default",
            "--mqtt",
            "--mqtt-url",
            broker.url,
            "--modbus",
            "--base-port",
            str(port),
            "--speed",
            "50",
            "--duration",
            "20s",
            "--device-map",
            str(dmap),
            "--truth-out",
            str(truth),
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    devices = json.loads(dmap.read_text())
    assert len(devices) == 36 and {d["port"] for d in devices} == {port}
    assert sorted(d["unit_id"] for d in devices) == list(range(1, 37))
    assert json.loads(truth.read_text())["events"]
    # 36 assets x 20 samples in batches of 10 -> at least 72 messages
    line = next(ln for ln in res.output.splitlines() if " 20 " in ln)
    assert int(line.split()[-2]) >= 72
