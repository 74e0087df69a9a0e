"""Private Mosquitto brokers and PostgreSQL clusters that tests can start, stop and kill.

Fault tests (broker down, database restarted) need servers they own; starting one per test
session also keeps concurrent test runs from seeing each other's traffic.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, up: bool, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not come {'up' if up else 'down'} in {timeout} s")


@dataclass
class Broker:
    """A private Mosquitto on a free port with persistence in ``home``."""

    home: Path
    port: int = field(default_factory=free_port)
    extra_conf: str = ""
    proc: subprocess.Popen[bytes] | None = None
    # The services' listener, used when ``home/services.passwd`` exists (then ``port`` is
    # the device listener, as in deploy/mosquitto.conf).
    services_port: int = field(default_factory=free_port)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def services_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.services_port}"

    def start(self) -> Broker:
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        conf = subprocess.run(
            [
                str(ROOT / "scripts" / "mosquitto-conf.sh"),
                str(self.home),
                str(self.port),
                self.extra_conf,
                str(self.services_port),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        conf = "\n".join(line for line in conf.splitlines() if not line.startswith("pid_file"))
        (self.home / "mosquitto.conf").write_text(conf + "\n")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.home / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, up=True)
        if (self.home / "services.passwd").exists():
            _wait_port(self.services_port, up=True)
        return self

    def stop(self) -> None:
        """Graceful stop: Mosquitto saves its persistent store."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        _wait_port(self.port, up=False)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, downtime: float = 0.0) -> None:
        self.stop()
        time.sleep(downtime)
        self.start()


@dataclass
class PgCluster:
    """A throw-away TimescaleDB cluster (initdb'd on first start), run as ``postgres`` if root."""

    home: Path
    port: int = field(default_factory=free_port)
    version: str = os.environ.get("FOREWARN_PG_VERSION", "15")

    @property
    def bindir(self) -> Path:
        return Path(f"/usr/lib/postgresql/{self.version}/bin")

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def start(self) -> PgCluster:
        data = self.home / "data"
        if not (data / "PG_VERSION").exists():
            self.home.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.home, "postgres", "postgres")
            self._run(
                str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"
            )
            conf = (
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.home}'\n"
                "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n"
                "fsync = off\nmax_connections = 100\n"
            )
            with open(data / "postgresql.conf", "a") as f:
                f.write(conf)
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.home / "log"),
            "-w",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.home / "data"), "-m", mode, "-w", "stop"
        )

    def restart(self, downtime: float = 0.0) -> None:
        self.stop()
        time.sleep(downtime)
        self.start()
