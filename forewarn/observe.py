"""What operators watch: Prometheus metrics, liveness/readiness probes and one log format.

Services that are not HTTP servers (ingest, detectors, gateway) start :class:`ProbeServer`,
a small thread serving ``/metrics`` (their own registry), ``/healthz`` (the process answers)
and ``/readyz`` (every dependency check passes: database, broker). Ticketing serves the same
three paths on its own app. Settings live in the ``observe:`` section::

    observe:
      host: 127.0.0.1       # loopback by default: metrics are not for the internet
      ingest_port: 9310     # 0 = any free port (tests, several workers), null = off
      detectors_port: 9311
      gateway_port: 9312
      log_format: text      # or json: one object a line, for a log shipper
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import Field

from forewarn import db as fdb
from forewarn import redact
from forewarn.settings import Section, Settings, section

log = logging.getLogger("forewarn.observe")
Check = Callable[[], None]  # raises (any Exception) when the dependency is not usable


class ObserveSettings(Section):
    """The ``observe:`` section: where probes and metrics listen, and the log format."""

    host: str = Field("127.0.0.1", description="address of the metrics/health server")
    ingest_port: int | None = Field(9310, ge=0, le=65535, description="0 = any, null = off")
    detectors_port: int | None = Field(9311, ge=0, le=65535, description="0 = any, null = off")
    gateway_port: int | None = Field(9312, ge=0, le=65535, description="0 = any, null = off")
    log_format: Literal["text", "json"] = Field("text", description="text or json lines")


def observe_settings(settings: Settings) -> ObserveSettings:
    return section(settings, "observe", ObserveSettings)


# -- readiness checks ---------------------------------------------------------------------


def database_check(dsn: str, timeout: float = 2.0) -> Check:
    """A fresh connection and ``select 1``: is the database reachable right now."""

    def check() -> None:
        with fdb.connect(dsn, autocommit=True, timeout=timeout) as conn:
            conn.execute("select 1")

    return check


def broker_check(is_connected: Callable[[], bool]) -> Check:
    """The service's own MQTT session is up (a probe connection would prove less)."""

    def check() -> None:
        if not is_connected():
            raise ConnectionError("not connected to the broker")

    return check


def readiness(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    """Run every check; ``(all ok, {name: "ok" or the first line of why not})``."""
    out: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            out[name] = "ok"
        except Exception as exc:  # a probe reports, it never raises
            text = str(exc).strip().splitlines()
            out[name] = redact.redact_text(text[0] if text else type(exc).__name__)
    return all(v == "ok" for v in out.values()), out


def endpoints(settings: Settings) -> dict[str, str]:
    """Base URL of each service's probes under ``settings`` (for ``forewarn status``)."""
    cfg = observe_settings(settings)
    near = "127.0.0.1" if cfg.host in ("0.0.0.0", "::", "") else cfg.host
    out = {}
    for name in ("ingest", "detectors", "gateway"):
        port = getattr(cfg, f"{name}_port")
        if port:  # 0 (any free port) and null (off) cannot be found from here
            out[name] = f"http://{near}:{port}"
    tk = settings.raw("ticketing")
    host = str(tk.get("host", "127.0.0.1"))
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    out["ticketing"] = f"http://{host}:{tk.get('port', 8080)}"
    return out


def probe_service(base: str, timeout: float = 1.0) -> tuple[str, str]:
    """(state, detail) of a service from its ``/readyz``: ready, unready or not answering."""
    import httpx

    try:
        r = httpx.get(f"{base}/readyz", timeout=timeout)
    except httpx.HTTPError as exc:
        return "down", f"{base}: {type(exc).__name__}"
    try:
        checks = r.json().get("checks", {})
    except ValueError:
        checks = {}
    if r.status_code == 200:
        return "ready", f"{base} " + ", ".join(f"{k} ok" for k in checks)
    bad = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return "unready", f"{base} {bad or f'HTTP {r.status_code}'}"


# -- the probe server ---------------------------------------------------------------------


class ProbeServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on a daemon thread (stdlib HTTP server)."""

    def __init__(
        self, registry: CollectorRegistry, checks: Mapping[str, Check], host: str, port: int
    ) -> None:
        self.registry = registry
        self.checks = dict(checks)
        probe = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0].rstrip("/")
                if path == "/metrics":
                    self._send(200, generate_latest(probe.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b'{"status":"ok"}', "application/json")
                elif path == "/readyz":
                    ok, detail = readiness(probe.checks)
                    body = json.dumps({"status": "ok" if ok else "unready", "checks": detail})
                    self._send(200 if ok else 503, body.encode(), "application/json")
                else:
                    self._send(404, b'{"detail":"not found"}', "application/json")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # a scrape every 15 s is not news

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="probe-http", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ProbeServer:
        self._thread.start()
        log.info("metrics and health on %s (/metrics, /healthz, /readyz)", self.url)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(
    settings: Settings,
    service: Literal["ingest", "detectors", "gateway"],
    registry: CollectorRegistry,
    checks: Mapping[str, Check],
    port_offset: int = 0,
) -> ProbeServer | None:
    """Start the probe server of ``service`` as configured; None when its port is null."""
    cfg = observe_settings(settings)
    port: int | None = getattr(cfg, f"{service}_port")
    if port is None:
        return None
    try:
        server = ProbeServer(registry, checks, cfg.host, port + port_offset if port else 0)
    except OSError as exc:  # the port is taken: the service still works, unobserved
        log.error(
            "metrics and health not served on %s:%s (%s); set observe.%s_port",
            cfg.host,
            port + port_offset,
            exc.strerror or exc,
            service,
        )
        return None
    return server.start()


# -- logs ---------------------------------------------------------------------------------

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, service, message (and exc)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "service": self.service,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = redact.redact_text(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def setup_logging(settings: Settings, service: str) -> None:
    """The root handler of a service process: ``observe.log_format`` at ``log_level``.

    Replaces earlier handlers (``force``), so every service logs the same way; URL
    credentials are redacted by :func:`forewarn.redact.install` before any handler runs.
    """
    redact.install()
    handler = logging.StreamHandler()
    if observe_settings(settings).log_format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
