"""A real Mosquitto in the production split (deploy/mosquitto.conf): a device listener whose
client ids are the user names, and a services' listener with the services' own users."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho

from forewarn import mqtt
from forewarn.settings import MqttSettings
from forewarn.testing.servers import Broker
from gateway.credentials import SERVICE_RULES, add_gateway, add_service, add_user


@dataclass
class SplitBroker:
    broker: Broker
    passwords: dict[str, str] = field(default_factory=dict)

    def service(self, user: str, **kw: Any) -> MqttSettings:
        """Settings of a service user on the services' listener."""
        return MqttSettings(
            url=self.broker.services_url, username=user, password=self.passwords[user], **kw
        )

    def device(self, user: str, **kw: Any) -> MqttSettings:
        """Settings of a gateway (device) user on the device listener."""
        return MqttSettings(url=self.broker.url, username=user, password=self.passwords[user], **kw)


def split_broker(broker: Broker, gateways: dict[str, str]) -> SplitBroker:
    """Give ``broker`` the services' users, ``gateways`` ({gateway: site}) and an ``audit``
    reader of everything, then restart it in the split configuration."""
    home = broker.home
    out = SplitBroker(broker)
    for service in SERVICE_RULES:
        if service == "sim":
            continue
        out.passwords[service] = add_service(
            home / "services.passwd", home / "services.acl", service
        )
    out.passwords["audit"] = add_user(
        home / "services.passwd", home / "services.acl", "audit", ["topic read forewarn/#"]
    )
    for gw, site in gateways.items():
        out.passwords[gw] = add_gateway(home / "devices.passwd", home / "devices.acl", gw, site)
    broker.restart()  # Mosquitto reads password and ACL files at start
    return out


def try_publish(
    settings: MqttSettings,
    messages: list[tuple[str, bytes]],
    *,
    ident: str | None = None,
    retain: bool = False,
) -> None:
    """QoS 1 publishes, each on its own connection (Mosquitto 2.0 may drop a 3.1.1
    connection whose publish it denies); waits for the PUBACK or the drop."""
    for topic, payload in messages:
        client = mqtt.paho_client(settings, ident or f"t-{secrets.token_hex(3)}", reconnect=False)
        mqtt.connect_paho(client, settings)
        try:
            info = client.publish(topic, payload, qos=1, retain=retain)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not info.is_published():
                if not client.is_connected():
                    break
                time.sleep(0.02)
        finally:
            client.disconnect()
            client.loop_stop()


class Audit:
    """Records every message of ``topic_filter`` as the ``audit`` user sees it."""

    def __init__(self, split: SplitBroker, topic_filter: str = "forewarn/#") -> None:
        self.got: list[tuple[str, bytes]] = []
        s = split.service("audit")
        self.client = mqtt.paho_client(s, f"audit-{secrets.token_hex(3)}")

        def on_connect(c: paho.Client, u: Any, f: Any, rc: Any, p: Any = None) -> None:
            c.subscribe(topic_filter, qos=1)

        def on_message(c: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
            self.got.append((msg.topic, bytes(msg.payload)))

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        mqtt.connect_paho(self.client, s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
