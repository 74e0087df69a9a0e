"""Bridge: an MQTT-native device on a local broker reaches the upstream broker under the
gateway's site, through the same buffer (an upstream outage loses nothing); a payload that
breaks the contract is counted against the bridge, not forwarded, and blocks nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from gateway_kit import write_config

from forewarn import mqtt
from forewarn.contract import Sample, TelemetryBatch, encode
from forewarn.settings import MqttSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_local_device_is_bridged_upstream_without_loss(
    tmp_path, mosquitto_factory, consumer_factory, gateway_factory
):
    local = mosquitto_factory()
    upstream = mosquitto_factory()
    up = MqttSettings(url=upstream.url)
    consumer = consumer_factory(up, "bridge-consumer")
    cfg = write_config(
        tmp_path / "gw.yaml",
        [],
        bridges=[{"id": "local", "url": local.url}],
        site="site-up",
    )
    gw = gateway_factory(cfg, up)
    time.sleep(0.5)
    device_settings = MqttSettings(url=local.url)
    device = mqtt.paho_client(device_settings, "native-device")
    mqtt.connect_paho(device, device_settings)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    sent = []

    def send(i: int) -> None:
        ts = t0 + timedelta(seconds=i)
        batch = TelemetryBatch(
            asset="native-1", seq=i, samples=[Sample(ts=ts, values={"temp_c": 20.0 + i})]
        )
        device.publish(
            "forewarn/v1/local-site/native-1/telemetry", encode(batch), qos=1
        ).wait_for_publish(5)
        sent.append(ts)

    for i in range(20):
        send(i)
    device.publish("forewarn/v1/local-site/native-1/telemetry", b'{"asset": 5}', qos=1)
    time.sleep(1.0)
    upstream.stop()
    for i in range(20, 40):
        send(i)
        time.sleep(0.02)
    time.sleep(0.5)
    upstream.start()
    for i in range(40, 50):
        send(i)
    consumer.wait_for({("native-1", ts.isoformat()) for ts in sent}, timeout=20)
    device.disconnect()
    device.loop_stop()
    assert gw.gateway is not None
    bridge = gw.gateway.bridges[0]
    gw.stop()
    arrived = consumer.samples()
    first: dict[str, bool] = {}
    for _asset, ts, hist in arrived:
        first.setdefault(ts, hist)
    assert [datetime.fromisoformat(t) for t in first] == sent, "all, once, in order"
    assert all(first[(t0 + timedelta(seconds=i)).isoformat()] for i in range(21, 40))
    assert all(b.gateway == "gw-test" for b in consumer.batches)
    assert set(consumer.topics) == {"forewarn/v1/site-up/native-1/telemetry"}, "our site"
    assert bridge.rejected == 1
    assert bridge.health.errors == 1 and "asset" in (bridge.health.last_error or "")
