"""MQTT connection helpers: one place that turns settings into a configured client.

Services use paho-mqtt 2.x where they need manual acknowledgement (ingest acks a QoS 1
message only after its rows are committed) and aiomqtt 2.x for plain async consumers.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from forewarn.errors import ServiceUnavailable
from forewarn.settings import MqttSettings

_HINT = (
    "Start the private broker with `scripts/services.sh start` or set mqtt.url "
    "(FOREWARN_MQTT__URL) to a reachable broker."
)


def client_id(settings: MqttSettings, role: str, unique: bool = True) -> str:
    """``<prefix>-<role>[-<pid>]``; persistent sessions need a stable id, so unique=False."""
    base = f"{settings.client_id_prefix}-{role}"
    return f"{base}-{os.getpid()}-{threading.get_ident() % 10_000}" if unique else base


def unavailable(settings: MqttSettings, reason: str) -> ServiceUnavailable:
    return ServiceUnavailable("broker", f"{settings.host}:{settings.port}", reason, _HINT)


def paho_client(
    settings: MqttSettings,
    ident: str,
    *,
    clean_session: bool = True,
    manual_ack: bool = False,
    will: tuple[str, bytes, int, bool] | None = None,
    max_inflight: int = 100,
    reconnect: bool = True,
) -> paho.Client:
    """A configured (not yet connected) paho client speaking MQTT 3.1.1.

    ``reconnect=False`` leaves reconnection to the caller (the gateway resends from its own
    buffer on a fresh connection, so paho must not replay in-flight messages behind its back).
    """
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=ident,
        clean_session=clean_session,
        protocol=paho.MQTTv311,
        manual_ack=manual_ack,
        reconnect_on_failure=reconnect,
    )
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    if will:
        topic, payload, qos, retain = will
        client.will_set(topic, payload, qos=qos, retain=retain)
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


def connect_paho(client: paho.Client, settings: MqttSettings, timeout: float = 5.0) -> None:
    """Connect and start the network loop; raise ServiceUnavailable when refused."""
    connected = threading.Event()
    result: dict[str, Any] = {}

    previous: Any = client.on_connect

    def on_connect(c: paho.Client, ud: Any, flags: Any, rc: Any, props: Any = None) -> None:
        result["rc"] = rc
        connected.set()
        # Keep the service's own handler (it re-subscribes on every reconnect).
        if previous is not None:
            previous(c, ud, flags, rc, props)

    client.on_connect = on_connect
    try:
        client.connect(settings.host, settings.port, keepalive=settings.keepalive_s)
    except (TimeoutError, OSError) as exc:
        raise unavailable(settings, str(exc) or type(exc).__name__) from None
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise unavailable(settings, f"no CONNACK within {timeout:.0f} s")
    rc = result["rc"]
    if getattr(rc, "is_failure", False):
        client.loop_stop()
        raise unavailable(settings, f"connection refused: {rc}")


def aio_client(
    settings: MqttSettings,
    ident: str,
    *,
    clean_session: bool = True,
    will: aiomqtt.Will | None = None,
    max_queued_incoming: int = 0,
) -> aiomqtt.Client:
    """A configured aiomqtt client (use as ``async with``)."""
    return aiomqtt.Client(
        hostname=settings.host,
        port=settings.port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=ident,
        clean_session=clean_session,
        protocol=aiomqtt.ProtocolVersion.V311,
        keepalive=settings.keepalive_s,
        will=will,
        tls_context=ssl.create_default_context() if settings.tls else None,
        max_queued_incoming_messages=max_queued_incoming or None,
    )


def check_broker(settings: MqttSettings, timeout: float = 3.0) -> None:
    """Connect once and disconnect; raise ServiceUnavailable with a fix when that fails."""
    client = paho_client(settings, client_id(settings, "check"))
    connect_paho(client, settings, timeout)
    client.disconnect()
    client.loop_stop()
