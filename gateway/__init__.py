"""Modbus edge gateway: register-map polling, batched MQTT publish, store-and-forward."""

from gateway.app import Gateway
from gateway.buffer import Buffer
from gateway.config import Device, GatewayConfig, GatewayConfigError, load
from gateway.credentials import CredentialsError, add_gateway, add_user
from gateway.health import Health

__all__ = [
    "Buffer",
    "CredentialsError",
    "Device",
    "Gateway",
    "GatewayConfig",
    "GatewayConfigError",
    "Health",
    "add_gateway",
    "add_user",
    "load",
]
