"""The ``forewarn`` command: one subcommand per service, plus demo, db, status, contract."""

from __future__ import annotations

import enum
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from forewarn import db as fdb
from forewarn import redact
from forewarn import settings as fsettings
from forewarn.errors import ForewarnError

app = typer.Typer(
    help="Forewarn predictive maintenance: telemetry in, preventive work orders out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
contract_app = typer.Typer(help="The v1 wire contract.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(contract_app, name="contract")
console = Console()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="settings YAML (default ./forewarn.yaml)")
]

# Service CLIs, registered when their package is importable: name -> (module, help).
SERVICES = {
    "sim": ("device_sim.cli", "Fleet simulator: Modbus servers and MQTT devices."),
    "gateway": ("gateway.cli", "Modbus edge gateway."),
    "ingest": ("ingest.cli", "MQTT to TimescaleDB ingest."),
    "detectors": ("detectors.cli", "Streaming detectors and replay."),
    "ticketing": ("ticketing.cli", "Work-order service (API and console)."),
    "tickets": ("ticketing.tickets_cli", "Work orders from the command line."),
    "bench": ("bench.cli", "Benchmarks."),
    "assets": ("ticketing.assets_cli", "Asset register: list, show, import, export."),
}


def load_settings(config: Path | None) -> fsettings.Settings:
    if config is not None:
        os.environ["FOREWARN_CONFIG"] = str(config)
    fsettings.current.cache_clear()
    return fsettings.current()


@db_app.command("migrate")
def db_migrate(config: ConfigOpt = None) -> None:
    """Apply pending schema migrations (safe to run any time)."""
    s = load_settings(config)
    applied = fdb.migrate(s.database.dsn)
    with fdb.connect(s.database.dsn) as conn:
        version = fdb.schema_version(conn)
    if applied:
        console.print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    console.print(f"schema at [bold]{version}[/] on {fdb.redact(s.database.dsn)}")


@db_app.command("status")
def db_status(config: ConfigOpt = None) -> None:
    """Show the schema version and pending migrations."""
    s = load_settings(config)
    todo = fdb.pending(s.database.dsn)
    with fdb.connect(s.database.dsn) as conn:
        console.print(f"schema version: {fdb.schema_version(conn)}; pending: {todo or 'none'}")


@contract_app.command("schema")
def contract_schema(
    out: Annotated[Path | None, typer.Option(help="write *.schema.json files here")] = None,
    name: Annotated[
        str, typer.Argument(help="telemetry, anomaly, status, ticket or feedback")
    ] = "telemetry",
) -> None:
    """Print (or write) the JSON Schema of the v1 payloads."""
    from forewarn import contract

    if out is not None:
        for path in contract.write_all(out):
            console.print(f"wrote {path}")
        return
    if name not in contract.schema.SCHEMAS:
        raise typer.BadParameter(f"choose one of {', '.join(contract.schema.SCHEMAS)}")
    sys.stdout.write(json.dumps(contract.json_schema(name), indent=2) + "\n")


def _probe(fn: Any) -> tuple[bool, str]:
    try:
        return True, str(fn())
    except ForewarnError as exc:
        return False, str(exc)


@app.command()
def status(config: ConfigOpt = None) -> None:
    """Are the database and broker reachable, which schema, and what is running."""
    from forewarn import mqtt
    from forewarn.supervisor import running_services

    s = load_settings(config)
    table = Table(title=f"Forewarn status ({s.source})")
    for col in ("part", "state", "detail"):
        table.add_column(col)

    def database() -> str:
        with fdb.connect(s.database.dsn, timeout=3) as conn:
            ts = fdb.timescaledb_version(conn)
            edition = "community" if fdb.has_tsl(conn) else "apache"
            return f"{fdb.redact(s.database.dsn)} timescaledb {ts} ({edition}); schema {fdb.schema_version(conn)}"

    def broker() -> str:
        mqtt.check_broker(s.mqtt)
        return s.mqtt.url

    ok_all = True
    for part, fn in (("database", database), ("broker", broker)):
        ok, detail = _probe(fn)
        ok_all &= ok
        table.add_row(part, "[green]up[/]" if ok else "[red]down[/]", detail)
    # Services of this configuration: their probes, and the demo's processes only when the
    # demo runs with this database and broker (not whatever .run/demo.json names).
    from forewarn import observe

    shown = {
        "ready": "[green]ready[/]",
        "unready": "[yellow]unready[/]",
        "down": "[dim]no answer[/]",
    }
    for name, base in observe.endpoints(s).items():
        state, detail = observe.probe_service(base)
        table.add_row(name, shown[state], detail)
    for name, pid, alive in running_services(s):
        state = "[green]running[/]" if alive else "[yellow]gone[/]"
        table.add_row(f"demo {name}", state, f"pid {pid}")
    console.print(table)
    raise typer.Exit(0 if ok_all else 1)


class DemoEdge(enum.StrEnum):
    """The edges ``forewarn demo`` can feed the fleet over (see forewarn.demo_edges)."""

    mqtt = "mqtt"
    sparkplug = "sparkplug"
    opcua = "opcua"


@app.command()
def demo(
    config: ConfigOpt = None,
    scenario: Annotated[str, typer.Option(help="simulator scenario (name or YAML path)")] = "demo",
    speed: Annotated[float, typer.Option(help="simulated seconds per real second")] = 3600.0,
    port: Annotated[int, typer.Option(help="console/API port")] = 8080,
    edge: Annotated[
        DemoEdge,
        typer.Option(
            help="how the fleet reaches the pipeline: JSON over MQTT, "
            "Sparkplug B edge nodes, or OPC UA servers read by one gateway per site"
        ),
    ] = DemoEdge.mqtt,
) -> None:
    """Run the whole pipeline on this machine until Ctrl-C."""
    from forewarn.supervisor import run_demo

    run_demo(load_settings(config), scenario=scenario, speed=speed, port=port, edge=edge.value)


def _register_services(only: str | None = None) -> None:
    """Register service sub-commands; with ``only``, import just that one (fast start-up)."""
    for name, (module, help_text) in SERVICES.items():
        if only is not None and name != only:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that service is not part of this build
            raise
        sub = getattr(mod, "app", None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name, help=help_text)
    replay = getattr(sys.modules.get("detectors.cli"), "replay", None)
    if callable(replay):
        app.command("replay", help="Run a detector configuration over history (CSV or database).")(
            replay
        )


def _wanted(argv: list[str]) -> str | None:
    """The service named on the command line, or None when all are needed (help)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first == "replay":
        return "detectors"
    if first in SERVICES:
        return first
    if first is None:
        return None  # `forewarn` or `forewarn --help` lists every command
    return ""  # a core command: import no service


def main() -> None:
    redact.install()  # no URL credentials or tokens in any service's log
    _register_services(_wanted(sys.argv[1:]))
    try:
        app()
    except ForewarnError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
