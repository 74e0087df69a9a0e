"""Per-gateway MQTT credentials and ACLs on a real Mosquitto: a gateway publishes its own
site; a publish to a foreign site is not delivered; bad or missing passwords are refused."""

from __future__ import annotations

import time

import pytest
from gateway_kit import PUMP_POINTS, Consumer, write_config, write_profile
from typer.testing import CliRunner

from forewarn import mqtt
from forewarn.errors import ServiceUnavailable
from forewarn.settings import MqttSettings
from gateway.cli import app
from gateway.credentials import add_user

pytestmark = pytest.mark.integration


def test_gateway_may_publish_only_its_own_site(
    tmp_path, mosquitto_factory, modbus_server, gateway_factory, monkeypatch
):
    broker = mosquitto_factory()
    passwd, acl = broker.home / "passwd", broker.home / "acl"
    monkeypatch.setenv("GW_A_PASSWORD", "pw-for-gw-a")
    result = CliRunner().invoke(
        app,
        [
            "credentials",
            "gw-a",
            "--site",
            "site-a",
            "--passwd",
            str(passwd),
            "--acl",
            str(acl),
            "--password-env",
            "GW_A_PASSWORD",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "pw-for-gw-a" not in passwd.read_text(), "stored hashed"
    assert "topic write forewarn/v1/site-a/+/telemetry" in acl.read_text()
    assert "topic write forewarn/v1/site-a/gateways/gw-a/status" in acl.read_text()
    add_user(passwd, acl, "reader", ["topic read forewarn/#"], password="pw-reader")
    broker.restart()  # Mosquitto reads password_file/acl_file at start

    reader = MqttSettings(url=broker.url, username="reader", password="pw-reader")
    consumer = Consumer(reader, topic="forewarn/v1/#").start("acl-reader")
    gw_settings = MqttSettings(url=broker.url, username="gw-a", password="pw-for-gw-a")

    def publish(topic: str, payload: bytes) -> None:
        pub = mqtt.paho_client(gw_settings, "gw-a-raw")
        pub.reconnect_delay_set(5, 5)
        mqtt.connect_paho(pub, gw_settings)
        try:
            info = pub.publish(topic, payload, qos=1)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not info.is_published() and pub.is_connected():
                time.sleep(0.05)
        finally:
            pub.disconnect()
            pub.loop_stop()

    # Mosquitto 2.0.11 answers a denied QoS 1 publish with a v5 reason code that a 3.1.1
    # client cannot parse, so that connection drops: the foreign publish goes on its own.
    publish("forewarn/v1/site-b/gateways/gw-a/status", b"foreign")
    publish("forewarn/v1/site-a/gateways/gw-a/status", b"own")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not consumer.statuses:
        time.sleep(0.05)
    time.sleep(0.3)
    assert consumer.statuses == [b"own"], "own site delivered, foreign site refused"

    # Wrong password and no credentials are refused at connect.
    for bad in (
        MqttSettings(url=broker.url, username="gw-a", password="wrong"),
        MqttSettings(url=broker.url),
    ):
        with pytest.raises(ServiceUnavailable, match="refused"):
            mqtt.connect_paho(mqtt.paho_client(bad, "intruder"), bad, timeout=3)

    # The gateway itself runs with its own user, password taken from the environment.
    srv = modbus_server()
    srv.data_bank.set_input_registers(0, [0x447A, 0, 215])
    profile = write_profile(tmp_path / "pump.yaml", PUMP_POINTS)
    cfg = write_config(
        tmp_path / "gw.yaml",
        [
            {
                "id": "d",
                "host": "127.0.0.1",
                "port": srv.port,
                "profile": str(profile),
                "asset": "pump-acl",
            }
        ],
        gateway="gw-a",
        site="site-a",
        mqtt={"url": broker.url, "username": "gw-a", "password_env": "GW_A_PASSWORD"},
    )
    telemetry = Consumer(reader).start("acl-telemetry")
    gw = gateway_factory(cfg, MqttSettings())
    time.sleep(1.0)
    gw.stop()
    telemetry.wait_for(set(gw.produced), timeout=10)
    got = {(a, t) for a, t, _ in telemetry.samples()}
    assert got == set(gw.produced) and got
    consumer.close()
    telemetry.close()
