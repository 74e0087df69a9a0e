"""Run several services as child processes for ``forewarn demo`` and report what runs."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from forewarn import db as fdb
from forewarn.contract import TicketEvent, decode
from forewarn.demo_edges import demo_edge, ingest_env
from forewarn.errors import ContractError
from forewarn.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
console = Console()


def run_dir() -> Path:
    return Path(os.environ.get("FOREWARN_RUN_DIR", ROOT / ".run"))


def _state_file() -> Path:
    return run_dir() / "demo.json"


def configuration(settings: Settings) -> dict[str, str]:
    """What makes two configurations the same pipeline: database and broker addresses."""
    return {"database": fdb.redact(settings.database.dsn), "mqtt": settings.mqtt.url}


def running_services(settings: Settings | None = None) -> list[tuple[str, int, bool]]:
    """(name, pid, alive) of the services the demo supervisor started; with ``settings``,
    only if the demo runs with that configuration (same database and broker)."""
    try:
        state = json.loads(_state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    if not isinstance(state, dict):
        return []
    services = state.get("services", {})
    if settings is not None and state.get("config") != configuration(settings):
        return []
    out = []
    for name, pid in services.items():
        try:
            os.kill(int(pid), 0)
            alive = True
        except OSError:
            alive = False
        out.append((name, int(pid), alive))
    return out


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    proc: subprocess.Popen[bytes] | None = None


def _forewarn(*args: str) -> list[str]:
    return [sys.executable, "-m", "forewarn", *args]


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGTERM when the supervisor dies, even by SIGKILL.

    The children run in their own session (a terminal's Ctrl-C reaches only the supervisor,
    which stops them in order), so without this a killed supervisor left them running with
    their ports held. The setting survives ``exec``; a parent that died before it was made
    is caught by the ``getppid`` check.
    """

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def say(message: str) -> None:
    """Print for the operator; a vanished reader (``| tee`` killed, ``| less`` quit) only
    silences us, it must never skip stopping the children."""
    try:
        console.print(message, highlight=False)
        console.file.flush()
    except (OSError, SystemExit):  # rich answers a broken pipe with SystemExit(1)
        # send the rest of our output nowhere, and carry on stopping the children
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def start_children(
    children: list[Child], env: dict[str, str], logs: Path, config: dict[str, str] | None = None
) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    for child in children:
        log = open(logs / f"{child.name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        child.proc = subprocess.Popen(
            list(child.argv),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with(os.getpid()),
        )
        log.close()  # the child holds its own copy
    state = {"config": config or {}, "services": {c.name: c.proc.pid for c in children if c.proc}}
    _state_file().parent.mkdir(parents=True, exist_ok=True)
    _state_file().write_text(json.dumps(state))


def stop_children(children: list[Child], timeout: float = 15.0) -> None:
    for child in reversed(children):
        if child.proc and child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        if child.proc:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(5)
    _state_file().unlink(missing_ok=True)


def supervise(
    children: list[Child],
    env: dict[str, str],
    logs: Path,
    *,
    banner: str = "",
    config: dict[str, str] | None = None,
    watcher: Callable[[], Any] | None = None,
) -> None:
    """Start ``children``, report exits, stop them all on SIGINT/SIGTERM/SIGHUP or when one
    fails. The stop runs whatever happened to our stdout."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    start_children(children, env, logs, config)
    client = None
    finished: set[str] = set()
    try:
        if banner:
            say(banner)
        client = watcher() if watcher is not None else None
        while not stop.wait(0.5):
            for child in children:
                code = child.proc.poll() if child.proc else None
                if code is None or child.name in finished:
                    continue
                finished.add(child.name)
                if child.name == "sim" and code == 0:
                    say("simulator finished its scenario; the rest keeps running")
                else:
                    say(f"[red]{child.name} exited ({code}); see {logs}/{child.name}.log[/]")
                    stop.set()
    finally:
        say("stopping services ...")
        if client is not None:
            with contextlib.suppress(Exception):
                client.disconnect()
                client.loop_stop()
        stop_children(children, timeout=30)
        say("stopped.")


SHOWN_STATES = ("resolved", "closed", "cancelled")


def describe(event: TicketEvent) -> str | None:
    """One line for the demo's console: openings, assignments, escalations, endings."""
    changes = event.changes or {}
    kind = event.event.removeprefix("ticket.")
    if event.event == "ticket.assigned" and str(changes.get("note", "")).startswith(
        "routing (escalation)"
    ):
        kind = "escalated"
    elif event.event == "ticket.state_changed" and event.state in SHOWN_STATES:
        kind = event.state
    elif event.event not in ("ticket.created", "ticket.assigned", "sla.breached"):
        return None
    parts = [f"#{event.ticket_id}", kind, f"priority={event.priority}", f"asset={event.asset}"]
    if event.fault_mode:
        parts.append(f"fault_mode={event.fault_mode}")
    if event.engineer_id is not None:
        parts.append(f"engineer={event.engineer_id}")
    parts.append(f"state={event.state}")
    return " ".join(parts)


def watch_tickets(settings: Settings) -> Any:
    """Print ticket events as ticketing publishes them (the v1 ticket-event topic)."""
    from forewarn import mqtt
    from forewarn.contract import topics
    from forewarn.errors import ServiceUnavailable

    client = mqtt.paho_client(settings.mqtt, mqtt.client_id(settings.mqtt, "demo-watch"))

    def on_connect(c: Any, ud: Any, flags: Any, rc: Any, props: Any = None) -> None:
        c.subscribe(topics.TICKET_FILTER, qos=1)

    def on_message(c: Any, ud: Any, msg: Any) -> None:
        try:
            line = describe(decode(TicketEvent, msg.payload))
        except ContractError:
            return
        if line:
            say(f"[bold yellow]ticket[/] {line}")

    client.on_connect = on_connect
    client.on_message = on_message
    try:
        mqtt.connect_paho(client, settings.mqtt)
    except ServiceUnavailable as exc:
        say(f"[yellow]not watching tickets: {exc}[/]")
        return None
    return client


def edge_children(edge: str, scenario: str, speed: float) -> list[Child]:
    """The simulator (and, for OPC UA, one gateway per site) feeding the fleet over ``edge``."""
    args = demo_edge(edge, scenario, speed, run_dir() / "opcua")
    return [Child(name, _forewarn(*argv)) for name, argv in args.items()]


def run_demo(
    settings: Settings, *, scenario: str, speed: float, port: int, edge: str = "mqtt"
) -> None:
    """Migrate, start every service, print where to look, stop all on Ctrl-C."""
    subprocess.run([str(ROOT / "scripts" / "services.sh"), "start"], check=True)
    applied = fdb.migrate(settings.database.dsn)
    if applied:
        console.print(f"schema migrated: {', '.join(applied)}")
    env = {**os.environ, **ingest_env(edge)}
    children = [
        Child("ingest", _forewarn("ingest", "run")),
        Child("detectors", _forewarn("detectors", "run")),
        Child("ticketing", _forewarn("ticketing", "run", "--port", str(port), "--demo-seed")),
        *edge_children(edge, scenario, speed),
    ]
    logs = run_dir() / "logs"
    banner = (
        f"\n[bold green]Forewarn demo running[/] (simulated time x{speed:g})\n"
        f"  console:  http://127.0.0.1:{port}/console  (demo tokens: {logs}/ticketing.log)\n"
        f"  tickets:  forewarn tickets list\n"
        f"  status:   forewarn status\n"
        f"  logs:     {logs}/\n"
        "Ctrl-C stops everything.\n"
    )
    supervise(
        children,
        env,
        logs,
        banner=banner,
        config=configuration(settings),
        watcher=lambda: watch_tickets(settings),
    )
