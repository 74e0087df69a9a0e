"""``forewarn ticketing``: run the work-order service."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Work-order service (API and console).", no_args_is_help=True)
console = Console()


@app.command()
def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="settings YAML")] = None,
    port: Annotated[int | None, typer.Option(help="port (default ticketing.port)")] = None,
    host: Annotated[str | None, typer.Option(help="address (default ticketing.host)")] = None,
    demo_seed: Annotated[
        bool, typer.Option("--demo-seed", help="demo engineers and tokens")
    ] = False,
) -> None:
    """Migrate the schema, then serve the API until Ctrl-C."""
    import uvicorn

    from forewarn import db as fdb
    from forewarn import observe
    from forewarn.cli import load_settings
    from ticketing.app import create_app
    from ticketing.config import ticketing_settings

    settings = load_settings(config)
    cfg = ticketing_settings(settings)
    observe.setup_logging(settings, "ticketing")  # uvicorn's loggers too: log_config=None
    for noisy in ("yoyo", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
    fdb.migrate(settings.database.dsn)
    if demo_seed:
        from ticketing.demo import seed

        table = Table(title="Demo tokens (Authorization: Bearer <token>)")
        for col in ("who", "role", "token"):
            table.add_column(col)
        for name, role, token in seed(settings.database.dsn, people=True):
            table.add_row(name, role, token)
        Console(width=200).print(table)
    uvicorn.run(
        create_app(settings),
        host=host or cfg.host,
        port=port or cfg.port,
        log_level=settings.log_level.lower(),
        log_config=None,
    )
