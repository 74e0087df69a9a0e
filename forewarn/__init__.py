"""Forewarn: the shared package every service depends on.

It holds what the services agree on: the wire contract, settings, database and MQTT
connection helpers, and the ``forewarn`` CLI. Services never import each other.
"""

from forewarn.errors import (
    ContractError,
    ForewarnError,
    MissingExtension,
    ServiceUnavailable,
    SettingsError,
)

__version__ = "0.1.0"

__all__ = [
    "ContractError",
    "ForewarnError",
    "MissingExtension",
    "ServiceUnavailable",
    "SettingsError",
    "__version__",
]
