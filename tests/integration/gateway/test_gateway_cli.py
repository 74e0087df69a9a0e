"""``forewarn gateway check`` through its real interface (Typer), with and without --probe."""

from __future__ import annotations

import pytest
from gateway_kit import PUMP_POINTS, write_config, write_profile
from typer.testing import CliRunner

from gateway.cli import app

pytestmark = pytest.mark.integration


def test_check_probe_prints_decoded_values(tmp_path, modbus_server, dead_port):
    srv = modbus_server()
    srv.data_bank.set_input_registers(0, [0x447A, 0x0000, 215])  # 1000.0 rpm, 21.5 C
    srv.data_bank.set_discrete_inputs(0, [True])
    # "SN-4711" as ASCII, two characters per register, NUL padded (byte order big).
    srv.data_bank.set_holding_registers(100, [0x534E, 0x2D34, 0x3731, 0x3100])
    serial = {"name": "serial", "kind": "holding", "address": 100, "type": "string", "count": 4}
    profile = write_profile(tmp_path / "pump.yaml", [*PUMP_POINTS, serial])
    cfg = write_config(
        tmp_path / "gw.yaml",
        [
            {
                "id": "live",
                "host": "127.0.0.1",
                "port": srv.port,
                "profile": str(profile),
                "asset": "pump-1",
            },
        ],
    )
    runner = CliRunner()
    ok = runner.invoke(app, ["check", str(cfg)], env={"COLUMNS": "200"})
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.output and "pump-1" in ok.output
    probe = runner.invoke(app, ["check", str(cfg), "--probe"], env={"COLUMNS": "200"})
    assert probe.exit_code == 0, probe.output
    lines = {
        line.split("│")[2].strip(): line
        for line in probe.output.splitlines()
        if "│" in line and line.count("│") > 5
    }
    assert "1000" in lines["speed"] and "21.5" in lines["temp"] and "True" in lines["running"]
    assert "SN-4711" in lines["serial"]

    dead = write_config(
        tmp_path / "dead.yaml",
        [
            {
                "id": "dead",
                "host": "127.0.0.1",
                "port": dead_port,
                "profile": str(profile),
                "asset": "pump-2",
            }
        ],
    )
    bad = runner.invoke(app, ["check", str(dead), "--probe"], env={"COLUMNS": "200"})
    assert bad.exit_code == 1 and "cannot connect" in bad.output


def test_check_refuses_a_bad_map_with_its_line(tmp_path):
    profile = write_profile(
        tmp_path / "bad.yaml",
        [
            {"name": "a", "kind": "input", "address": 0, "type": "float32"},
            {"name": "b", "kind": "input", "address": 1, "type": "int16"},
        ],
    )
    cfg = write_config(
        tmp_path / "gw.yaml",
        [{"id": "d", "host": "127.0.0.1", "port": 1502, "profile": str(profile), "asset": "x"}],
    )
    result = CliRunner().invoke(app, ["check", str(cfg)])
    assert result.exit_code != 0
    err = result.exception
    assert err is not None and "overlaps" in str(err) and f"{profile}:" in str(err)
