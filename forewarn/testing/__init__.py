"""Test support: real servers for tests, as a pytest plugin (``forewarn.testing.plugin``)."""

from forewarn.testing.asgi import serve_asgi
from forewarn.testing.servers import Broker, PgCluster, free_port

__all__ = ["Broker", "PgCluster", "free_port", "serve_asgi"]
