"""Serve an ASGI app with uvicorn on a free loopback port, for tests that need a real socket
(browser tests, raw-socket and concurrency tests)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from forewarn.testing.servers import free_port


@contextlib.contextmanager
def serve_asgi(app: Any, ready: Callable[[], bool] | None = None) -> Iterator[str]:
    """Yield the base URL once uvicorn listens (and ``ready()`` holds); stop it afterwards."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started and (ready is None or ready()):
                break
            time.sleep(0.05)
        assert server.started and (ready is None or ready()), "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
