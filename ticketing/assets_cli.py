"""``forewarn assets``: the asset register from a terminal (list, show, CSV import/export).

Works straight on the database like ``forewarn tickets``; imports are audited as
``cli:<user>`` (role admin) and are all or nothing: a bad row exits 2 naming row and field.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ticketing.cmms import assets as A
from ticketing.tickets_cli import ConfigOpt, _actor, _fmt, _store

app = typer.Typer(help="Asset register: list, show, import, export.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_(
    config: ConfigOpt = None,
    site: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option(help="draft, active, inactive, retired")] = None,
) -> None:
    """The register (``--status draft``: what ingest registered and needs completing)."""
    store = _store(config)
    try:
        rows = store.read(lambda tx: A.listing(tx, site, status))
    finally:
        store.close()
    table = Table()
    for col in ("asset", "site", "parent", "level", "class", "crit", "status", "lat", "lon"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            *(
                _fmt(r[k])
                for k in (
                    "asset",
                    "site",
                    "parent",
                    "level",
                    "asset_class",
                    "criticality",
                    "status",
                    "lat",
                    "lon",
                )
            )
        )
    console.print(table)


@app.command()
def show(asset: str, config: ConfigOpt = None) -> None:
    """One asset: its fields, children, meters and recent tickets."""
    store = _store(config)
    try:
        h = store.read(lambda tx: A.history(tx, asset))
    finally:
        store.close()
    for key, value in h["asset"].items():
        console.print(f"[bold]{key}[/]: {_fmt(value)}")
    console.print(f"[bold]children[/]: {', '.join(h['children']) or '-'}")
    for m in h["meters"]:
        console.print(f"meter {m['meter']}: {m['value']:.2f}")
    for t in h["tickets"][:20]:
        console.print(f"ticket #{t['id']} {t['state']} {t['priority']} {t['title']}")


@app.command("export")
def export(
    config: ConfigOpt = None,
    site: Annotated[str | None, typer.Option()] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file (default stdout)")] = None,
) -> None:
    """The register as CSV (the import's columns)."""
    store = _store(config)
    try:
        text = store.read(lambda tx: A.export_csv(tx, site))
    finally:
        store.close()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


@app.command("import")
def import_(path: Path, config: ConfigOpt = None) -> None:
    """Create or update assets from CSV; all or nothing."""
    rows = A.parse_csv(path.read_text(encoding="utf-8"))
    store = _store(config)
    try:
        result = store.run(lambda tx: A.import_rows(tx, _actor(), rows))
    finally:
        store.close()
    console.print(f"imported: {result['created']} created, {result['updated']} updated")
