"""MQTT-native devices against a real Mosquitto: every sample arrives, contract-valid."""

from __future__ import annotations

import asyncio
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from device_sim import Fleet, load_scenario
from device_sim.mqtt_out import MqttFleet
from device_sim.runner import run
from forewarn.contract import TelemetryBatch, decode, topics
from forewarn.errors import ServiceUnavailable
from forewarn.settings import MqttSettings

pytestmark = pytest.mark.integration


def test_fleet_publishes_every_sample_qos1(broker):
    fleet = Fleet(load_scenario("default"))
    got: list[tuple[str, bytes, int]] = []
    lock = threading.Lock()
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-test-sub")
    sub.on_connect = lambda c, *a: c.subscribe(topics.TELEMETRY_FILTER, qos=1)
    sub.on_subscribe = lambda *a: ready.set()

    def on_message(c, u, msg):
        with lock:
            got.append((msg.topic, msg.payload, msg.qos))

    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    assert ready.wait(10)
    out = MqttFleet(fleet, MqttSettings(url=broker.url), batch_samples=10)
    out.start()
    frames = []

    def keep(frame):
        frames.append(frame)

    stats = asyncio.run(run(fleet, [keep, out], steps=50, speed=None))
    out.stop()
    assert stats.steps == 50 and out.acked == out.stats.messages
    deadline = time.monotonic() + 10
    while len(got) < out.stats.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.loop_stop()
    sub.disconnect()
    assert len(got) == out.stats.messages
    per_asset: dict[str, int] = {}
    for topic, payload, qos in got:
        batch = decode(TelemetryBatch, payload)
        assert qos == 1
        assert topic == topics.telemetry(topics.parse(topic).site, batch.asset)
        assert batch.asset_class in {
            "centrifugal_pump",
            "electric_motor",
            "air_compressor",
            "chiller",
        }
        per_asset[batch.asset] = per_asset.get(batch.asset, 0) + len(batch.samples)
    assert per_asset == {a.id: 50 for a in fleet.assets}  # no power cut in the first 50 s
    assert sum(per_asset.values()) == out.stats.samples


def test_unreachable_broker_is_a_clear_error():
    fleet = Fleet(load_scenario("default"))
    out = MqttFleet(fleet, MqttSettings(url="mqtt://127.0.0.1:1"))  # nothing listens there
    with pytest.raises(ServiceUnavailable, match=r"broker at 127\.0\.0\.1:1 is unavailable"):
        out.start(timeout=2)
