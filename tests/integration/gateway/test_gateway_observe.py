"""The gateway's /metrics (device state, polls, poll time, uplink) and /readyz, and its log
of device online/offline transitions. Fault tried: a device that is stopped mid-run."""

from __future__ import annotations

import logging
import os
import time

import pytest
from gateway_kit import PUMP_POINTS, write_config, write_profile

from forewarn.settings import MqttSettings, load
from forewarn.testing.probes import probe, scrape, value
from gateway import metrics

pytestmark = pytest.mark.integration


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_metrics_follow_devices_and_transitions_are_logged(
    tmp_path, modbus_server, dead_port, broker, gateway_factory, caplog
):
    caplog.set_level(logging.INFO, logger="forewarn.gateway")
    srv = modbus_server()
    srv.data_bank.set_input_registers(0, [0x447A, 0, 215])
    profile = write_profile(tmp_path / "pump.yaml", PUMP_POINTS, poll_period_s=0.05)
    dev = {"host": "127.0.0.1", "profile": str(profile)}
    cfg = write_config(
        tmp_path / "gw.yaml",
        [
            {**dev, "id": "live", "port": srv.port, "asset": "live-1"},
            {**dev, "id": "dead", "port": dead_port, "asset": "dead-1"},
        ],
    )
    gw = gateway_factory(cfg, MqttSettings(url=broker.url))
    settings = load(path=os.devnull, environ={"FOREWARN_OBSERVE__GATEWAY_PORT": "0"})
    assert gw.gateway is not None
    server = metrics.serve(gw.gateway, settings)
    assert server is not None
    try:
        assert wait_for(lambda: probe(server.url, "/readyz")[0] == 200)
        state = "forewarn_gateway_device_state"
        assert wait_for(lambda: value(scrape(server.url), state, device="live", state="online"))
        first = scrape(server.url)
        assert value(first, state, device="dead", state="offline") == 1
        assert value(first, state, device="dead", state="online") == 0
        assert value(first, "forewarn_gateway_uplink_connected") == 1
        polls = value(first, "forewarn_gateway_device_polls_total", device="live")
        assert wait_for(
            lambda: (
                value(scrape(server.url), "forewarn_gateway_device_polls_total", device="live")
                > polls
            )
        )
        m = scrape(server.url)
        assert value(m, "forewarn_gateway_poll_seconds_count", device="live") >= polls
        assert value(m, "forewarn_gateway_poll_seconds_sum", device="live") > 0
        assert value(m, "forewarn_gateway_device_poll_errors_total", device="dead") >= 1
        assert wait_for(
            lambda: value(scrape(server.url), "forewarn_gateway_samples_published_total") > 0
        )
        srv.stop()  # the live device goes away
        assert wait_for(
            lambda: value(scrape(server.url), state, device="live", state="online") == 0
        )
    finally:
        server.stop()
        gw.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert any("device live (asset live-1) offline -> online" in x for x in lines), lines
    assert any("device live (asset live-1) online -> " in x for x in lines), lines
