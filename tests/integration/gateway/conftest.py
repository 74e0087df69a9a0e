"""Gateway test fixtures; the helpers live in gateway_kit (a unique module name, since
other folders have their own conftest.py)."""

from gateway_kit import (  # noqa: F401 - fixtures
    consumer_factory,
    dead_port,
    gateway_factory,
    modbus_server,
    mute_device,
)
from opcua_kit import foreign_opcua  # noqa: F401 - fixture
