"""``forewarn bench``: run the benchmarks (all, or the ones named)."""

from __future__ import annotations

from typing import Annotated

import typer

from bench.runner import available, run

app = typer.Typer(no_args_is_help=False, invoke_without_command=True)


@app.callback()
def main(
    names: Annotated[
        list[str] | None, typer.Argument(help="benchmarks to run (default: all)")
    ] = None,
    quick: Annotated[bool, typer.Option(help="smaller runs, for a smoke check")] = False,
    list_: Annotated[bool, typer.Option("--list", help="list the benchmarks")] = False,
) -> None:
    if list_:
        for name in available():
            typer.echo(name)
        return
    summary = run(names, quick=quick)
    if any(b["returncode"] for b in summary["benchmarks"].values()):
        raise typer.Exit(1)
