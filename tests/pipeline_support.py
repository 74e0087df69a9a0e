"""The whole pipeline as real processes, for end-to-end and chaos tests.

Each service runs as its own ``forewarn <service> run`` process (exactly as ``forewarn demo``
starts them) with its output in ``<logs>/<name>.log``; a restarted service appends to the
same log, so a test can read what every incarnation said.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from forewarn.testing import free_port


def service_env(dsn: str, broker_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """Environment that points every service at one database and one broker."""
    return {
        **os.environ,
        "FOREWARN_DATABASE__DSN": dsn,
        "FOREWARN_MQTT__URL": broker_url,
        "FOREWARN_MQTT__CLIENT_ID_PREFIX": prefix,
        "COLUMNS": "200",
        **extra,
    }


@dataclass
class Pipeline:
    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    args: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str, *args: str) -> None:
        """Start ``forewarn ARGS`` as ``name`` (again with the same args if none are given)."""
        args = args or self.args[name]
        self.args[name] = args
        log = open(self.log(name), "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "forewarn", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child holds its own descriptor

    def start_services(self, ticketing_args: tuple[str, ...] = ("--demo-seed",)) -> None:
        """ingest, detectors and ticketing, waiting until each is ready."""
        self.start("ingest", "ingest", "run")
        self.start("detectors", "detectors", "run")
        self.start("ticketing", "ticketing", "run", "--port", str(self.port), *ticketing_args)
        self.wait_log("ingest", "subscribed")
        self.wait_log("detectors", "subscribed")
        self.wait_log("ticketing", "Application startup complete")

    def mark(self, name: str) -> int:
        """Current size of ``name``'s log: pass it to ``wait_log(since=...)``."""
        path = self.log(name)
        return path.stat().st_size if path.exists() else 0

    def text(self, name: str, since: int = 0) -> str:
        with open(self.log(name), "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def wait_log(self, name: str, needle: str, timeout: float = 60, since: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text(name, since):
                return
            proc = self.procs[name]
            assert proc.poll() is None, f"{name} exited:\n{self.tail(name)}"
            time.sleep(0.2)
        raise AssertionError(f"{name} never logged {needle!r}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        return "\n".join(self.text(name).splitlines()[-lines:])

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed or checkpointed."""
        proc = self.procs[name]
        proc.kill()
        proc.wait(10)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def cli(self, *args: str, timeout: float = 120) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "forewarn", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def background(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """A one-off command (e.g. the simulator) in the background, logged like a service."""
        self.start(name, *args)
        return self.procs[name]

    def tickets(self, token: str, asset_prefix: str) -> list[dict[str, Any]]:
        r = httpx.get(
            f"http://127.0.0.1:{self.port}/tickets",
            params={"limit": 500},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        r.raise_for_status()
        return [t for t in r.json() if t["asset"].startswith(asset_prefix)]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
