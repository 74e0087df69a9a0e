"""``forewarn tickets``: common operations from a terminal, straight on the database.

Changes made here are audited like API changes, with actor ``cli:<user>`` (role admin):
whoever can run this can reach the database anyway.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from forewarn import db as fdb
from forewarn.settings import Settings
from ticketing import auth, reads, tickets
from ticketing.clock import SystemClock
from ticketing.errors import AuditBroken, TicketingError
from ticketing.schemas import TransitionIn
from ticketing.store import Actor, Store, Tx, verify_chain

app = typer.Typer(help="Work orders from the command line.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="settings YAML")]


def _settings(config: Path | None) -> Settings:
    from forewarn.cli import load_settings

    return load_settings(config)


def _store(config: Path | None) -> Store:
    store = Store(_settings(config).database.dsn, SystemClock(), min_size=1, max_size=2)
    store.open()
    return store


def _actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}", "admin")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    return str(value)


@app.command("list")
def list_(
    config: ConfigOpt = None,
    state: Annotated[str | None, typer.Option(help="only this state")] = None,
    site: Annotated[str | None, typer.Option()] = None,
    all_: Annotated[bool, typer.Option("--all", help="include resolved/closed/cancelled")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON array, for scripts")] = False,
) -> None:
    """Tickets, newest first (open ones unless --all). Piped: tab-separated, never cut."""
    store = _store(config)
    try:
        rows = store.read(
            lambda tx: reads.listing(
                tx,
                states=[state] if state else None,
                site=site,
                open_only=not all_ and not state,
                limit=limit,
                engineer_names=True,
            )
        )
    finally:
        store.close()
    if as_json:
        out = [{k: r[k] for k in JSON_FIELDS} for r in rows]
        sys.stdout.write(json.dumps(out, default=_iso, indent=1) + "\n")
        return
    head = ("id", "pri", "state", "source", "site", "asset", "fault", "engineer", "response due",
            "opened")  # fmt: skip
    cells = [
        (
            str(r["id"]),
            r["priority"],
            r["state"],
            r["source"],
            r["site"],
            r["asset"],
            r["fault_mode"],
            _fmt(r["engineer"]),
            _fmt(r["response_due"]),
            _fmt(r["created_at"]),
        )
        for r in rows
    ]
    if not console.is_terminal:  # a pipe or file: whole values, one line per ticket
        for line in (head, *cells):
            sys.stdout.write("\t".join(c.replace("\t", " ") for c in line) + "\n")
        return
    table = Table(title=f"Tickets ({len(rows)})")
    for col in head:
        table.add_column(col)
    for cell in cells:
        table.add_row(*cell)
    console.print(table)


JSON_FIELDS = (
    "id", "priority", "state", "source", "site", "asset", "fault_mode", "title", "engineer",
    "response_due", "resolution_due", "created_at", "updated_at",
)  # fmt: skip


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@app.command()
def show(ticket_id: int, config: ConfigOpt = None) -> None:
    """One ticket with its routing explanation and timeline."""
    store = _store(config)
    try:
        detail, events = store.read(
            lambda tx: (
                tickets.detail(tx, tickets.get(tx, ticket_id)),
                tx.all(
                    "select seq, at, actor, role, action from audit_events where entity ="
                    " 'ticket' and entity_id = %s order by seq",
                    (str(ticket_id),),
                ),
            )
        )
    finally:
        store.close()
    table = Table(title=f"Ticket {ticket_id}: {detail['title']}", show_header=False)
    for key in (
        "state",
        "priority",
        "source",
        "site",
        "asset",
        "fault_mode",
        "engineer_id",
        "tracking_code",
        "created_at",
        "response_due",
        "resolution_due",
        "resolution_code",
        "allowed_transitions",
    ):
        table.add_row(key, _fmt(detail[key]))
    console.print(table)
    for decision in detail["routing"]:
        console.print(f"[bold]routing ({decision['reason']}):[/] {decision['explanation']}")
    timeline = Table(title="Timeline")
    for col in ("seq", "at", "actor", "role", "action"):
        timeline.add_column(col)
    for e in events:
        timeline.add_row(str(e["seq"]), _fmt(e["at"]), e["actor"], e["role"], e["action"])
    console.print(timeline)


@app.command()
def assign(
    ticket_id: int,
    engineer_id: int,
    config: ConfigOpt = None,
    reason: Annotated[str, typer.Option(help="why (kept in the audit)")] = "",
) -> None:
    """Assign a ticket to an engineer (overrides routing; audited)."""
    store = _store(config)
    try:
        row = store.run(
            lambda tx: tickets.assign(
                tx,
                _actor(),
                tickets.get(tx, ticket_id, lock=True),
                engineer_id,
                reason,
                manual=True,
            )
        )
    finally:
        store.close()
    console.print(f"ticket {row['id']} assigned to engineer {row['engineer_id']} ({row['state']})")


@app.command()
def resolve(
    ticket_id: int,
    code: Annotated[str, typer.Option(help="confirmed, no_fault_found or fixed")],
    config: ConfigOpt = None,
    fault_mode: Annotated[
        str | None, typer.Option(help="the fault found (with confirmed or fixed)")
    ] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Resolve a ticket with a resolution code (fed back to the detectors)."""
    try:
        t = TransitionIn.model_validate(
            {
                "to": "resolved",
                "resolution_code": code,
                "confirmed_fault_mode": fault_mode,
                "note": note,
            }
        )
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = {"resolution_code": "--code", "confirmed_fault_mode": "--fault-mode"}.get(
            str(err["loc"][0]) if err["loc"] else "", "--note"
        )
        raise TicketingError(f"{field}: {err['msg']}") from None
    store = _store(config)

    def fn(tx: Tx) -> Any:
        return tickets.transition(tx, _actor(), tickets.get(tx, ticket_id, lock=True), t)

    try:
        row = store.run(fn)
    finally:
        store.close()
    console.print(f"ticket {row['id']} resolved ({row['resolution_code']})")


@app.command()
def verify(config: ConfigOpt = None) -> None:
    """Recompute the audit hash chain; exit 1 and name the event where it breaks."""
    with fdb.connect(_settings(config).database.dsn) as conn:
        try:
            n = verify_chain(conn)
        except AuditBroken as exc:
            console.print(f"[red]TAMPERED[/]: {exc}")
            raise typer.Exit(1) from None
    console.print(f"[green]audit chain verified[/]: {n} events")


@token_app.command("create")
def token_create(
    name: str,
    role: Annotated[str, typer.Option(help="admin, dispatcher, engineer or integration")],
    config: ConfigOpt = None,
    engineer: Annotated[int | None, typer.Option(help="engineer id (engineer role)")] = None,
    site: Annotated[
        list[str] | None,
        typer.Option(help="scope the token to this site (repeat for several); default: all"),
    ] = None,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    with fdb.connect(_settings(config).database.dsn, autocommit=True) as conn:
        ident, token = auth.create_token(conn, name, role, engineer, sites=site or None)
    scope = f", sites {', '.join(sorted(set(site)))}" if site else ""
    console.print(f"token {ident} ({role}{scope}) for {name}:")
    print(token)


@token_app.command("revoke")
def token_revoke(
    ident: Annotated[str, typer.Argument(help="token id or name")], config: ConfigOpt = None
) -> None:
    """Revoke a token by id or name (takes effect on the next request)."""
    with fdb.connect(_settings(config).database.dsn, autocommit=True) as conn:
        n = auth.revoke_token(conn, ident)
    console.print(f"revoked {n} token(s)")


@token_app.command("list")
def token_list(config: ConfigOpt = None) -> None:
    """Tokens (never the secrets)."""
    with fdb.connect(_settings(config).database.dsn) as conn:
        rows = conn.execute(
            "select id, name, role, engineer_id, array_to_string(sites, ','), created_at,"
            " revoked_at from api_tokens order by id"
        ).fetchall()
    table = Table(title="API tokens")
    for col in ("id", "name", "role", "engineer", "sites", "created", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(_fmt(v) for v in r))
    console.print(table)
