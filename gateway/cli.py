"""``forewarn gateway``: run, check (and probe) a gateway config, issue MQTT credentials."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from forewarn import observe
from forewarn import settings as fsettings
from gateway import config as gconfig
from gateway.credentials import (
    SERVICE_RULES,
    CredentialsError,
    add_gateway,
    add_service,
    add_sparkplug_node,
    service_rules,
)
from gateway.devicemap import config_from_map
from gateway.poller import ReadFailed, client_for, read

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()

ConfigArg = Annotated[Path, typer.Argument(help="gateway YAML (see config/gateway.example.yaml)")]
SettingsOpt = Annotated[
    Path | None, typer.Option("--settings", "-s", help="forewarn settings YAML (MQTT defaults)")
]


def _load(path: Path, settings_file: Path | None) -> gconfig.GatewayConfig:
    if settings_file is not None:
        os.environ["FOREWARN_CONFIG"] = str(settings_file)
    fsettings.current.cache_clear()
    return gconfig.load(path, fsettings.current().mqtt)


@app.command()
def run(config: ConfigArg, settings_file: SettingsOpt = None) -> None:
    """Poll the devices and publish until Ctrl-C / SIGTERM."""
    from gateway import metrics
    from gateway.app import Gateway

    cfg = _load(config, settings_file)
    observe.setup_logging(fsettings.current(), "gateway")

    async def main() -> None:
        gw = Gateway(cfg)
        gw.install_signals()
        probes = metrics.serve(gw, fsettings.current())
        try:
            await gw.run()
        finally:
            if probes is not None:
                probes.stop()

    asyncio.run(main())


async def _probe(cfg: gconfig.GatewayConfig) -> list[tuple[str, str, str, str, str]]:
    """Read every point once: (device, point, value, unit, error)."""

    async def one(dev: gconfig.Device) -> list[tuple[str, str, str, str, str]]:
        client = client_for(dev)
        rows = []
        try:
            if not await client.connect():
                return [(dev.id, "-", "", "", f"cannot connect to {dev.host}:{dev.port}")]
            for req in dev.reads:
                try:
                    decoded = req.decode(await read(client, req, dev.unit_id))
                except (ReadFailed, ValueError) as exc:
                    rows += [(dev.id, p.name, "", p.unit or "", str(exc)) for p in req.points]
                    continue
                for p in req.points:
                    v = decoded[p.name]
                    text = f"{v:.6g}" if isinstance(v, float) else str(v)
                    rows.append((dev.id, p.name, text, p.unit or "", ""))
        finally:
            client.close()
        return rows

    from gateway.opcua.probe import probe as probe_opcua

    results = await asyncio.gather(
        *(one(d) for d in cfg.devices), *(probe_opcua(s) for s in cfg.opcua)
    )
    return [row for rows in results for row in rows]


@app.command()
def check(
    config: ConfigArg,
    probe: Annotated[bool, typer.Option(help="read each point once and show its value")] = False,
    settings_file: SettingsOpt = None,
) -> None:
    """Validate the config and its register maps (and with --probe, read every point)."""
    cfg = _load(config, settings_file)
    table = Table(title=f"gateway {cfg.gateway} (site {cfg.site}) -> {cfg.mqtt.url}")
    for col in ("device", "address", "asset", "profile", "points", "reads", "period s"):
        table.add_column(col)
    for d in cfg.devices:
        table.add_row(
            d.id,
            f"{d.host}:{d.port}/{d.unit_id}",
            f"{d.asset} ({d.asset_class})",
            d.profile.profile,
            str(len(d.profile.points)),
            str(len(d.reads)),
            f"{d.poll_period_s:g}",
        )
    console.print(table)
    for b in cfg.bridges:
        console.print(f"bridge {b.id}: {b.settings.url} {b.topic} -> upstream site {cfg.site}")
    for s in cfg.opcua:
        nodes = sum(len(a.nodemap.nodes) for a in s.assets)
        console.print(
            f"opcua {s.id}: {s.url} security {s.security}, {s.mode}, "
            f"{len(s.assets)} asset(s), {nodes} node(s)"
        )
    console.print(f"[green]ok[/]: {cfg.file} and {len(cfg.devices)} register map(s) are valid")
    if not probe:
        return
    rows = asyncio.run(_probe(cfg))
    values = Table(title="probe")
    for col in ("device", "point", "value", "unit", "error"):
        values.add_column(col)
    for dev, point, value, unit, error in rows:
        values.add_row(dev, point, value, unit, f"[red]{error}[/]" if error else "")
    console.print(values)
    failed = sum(1 for r in rows if r[4])
    if failed:
        console.print(f"[red]{failed} point(s) could not be read[/]")
        raise typer.Exit(1)


@app.command("from-map")
def from_map(
    device_map: Annotated[
        Path, typer.Argument(help="JSON list of devices (forewarn sim run --device-map)")
    ],
    site: Annotated[str, typer.Option(help="keep the devices of this site")],
    gateway: Annotated[str, typer.Option(help="gateway id")],
    out: Annotated[Path | None, typer.Option(help="write here (default: print)")] = None,
    poll_period_s: Annotated[
        float | None, typer.Option(help="override every device's period")
    ] = None,
) -> None:
    """Write a gateway config for one site of a device map."""
    entries = json.loads(device_map.read_text())
    config = config_from_map(entries, gateway=gateway, site=site, poll_period_s=poll_period_s)
    if not config["devices"]:
        raise typer.BadParameter(f"no device of site {site!r} in {device_map}")
    text = yaml.safe_dump(config, sort_keys=False)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text)
    console.print(f"wrote {out}: {len(config['devices'])} device(s) of site {site}")


@app.command()
def credentials(
    gateway: Annotated[str, typer.Argument(help="gateway id (becomes the MQTT user name)")],
    site: Annotated[str, typer.Option(help="the only site this gateway may publish to")],
    passwd: Annotated[Path, typer.Option(help="Mosquitto password_file")] = Path(
        ".run/mosquitto/passwd"
    ),
    acl: Annotated[Path, typer.Option(help="Mosquitto acl_file")] = Path(".run/mosquitto/acl"),
    password_env: Annotated[
        str | None, typer.Option(help="take the password from this environment variable")
    ] = None,
) -> None:
    """Create or update a gateway's MQTT user: it may publish only its site's telemetry
    and its own status (put it in the device listener's files, see docs/security.md)."""
    password = _password(password_env)
    prefix = fsettings.current().mqtt.client_id_prefix
    try:
        secret = add_gateway(passwd, acl, gateway, site, password, service_prefix=prefix)
    except CredentialsError as exc:
        raise typer.BadParameter(exc.reason) from None
    console.print(
        f"user [bold]{gateway}[/] may publish forewarn/v1/{site}/+/telemetry and its status"
        f" ({passwd}, {acl})"
    )
    _done(secret, password_env)


def _password(password_env: str | None) -> str | None:
    password = os.environ.get(password_env) if password_env else None
    if password_env and not password:
        raise typer.BadParameter(f"${password_env} is not set")
    return password


def _done(secret: str, password_env: str | None) -> None:
    if not password_env:
        console.print(f"password (shown once): {secret}", highlight=False)
    console.print("reload Mosquitto to apply: kill -HUP <pid>")


@app.command("service-credentials")
def service_credentials(
    service: Annotated[str, typer.Argument(help=f"one of {', '.join(SERVICE_RULES)}")],
    passwd: Annotated[
        Path | None,
        typer.Option(help="Mosquitto password_file [.run/mosquitto/services.passwd; sim: devices]"),
    ] = None,
    acl: Annotated[
        Path | None, typer.Option(help="Mosquitto acl_file [services.acl; sim: devices.acl]")
    ] = None,
    password_env: Annotated[
        str | None, typer.Option(help="take the password from this environment variable")
    ] = None,
    sparkplug: Annotated[
        bool,
        typer.Option(
            "--sparkplug", help="ingest with Sparkplug intake on: also spBv1.0 and republish"
        ),
    ] = False,
) -> None:
    """Create or update a service's own MQTT user with least-privilege topic rules (the
    simulator is a fleet of devices: its user goes with the devices')."""
    password = _password(password_env)
    listener = "devices" if service == "sim" else "services"
    passwd = passwd or Path(f".run/mosquitto/{listener}.passwd")
    acl = acl or Path(f".run/mosquitto/{listener}.acl")
    try:
        secret = add_service(passwd, acl, service, password, sparkplug=sparkplug)
    except CredentialsError as exc:
        raise typer.BadParameter(exc.reason) from None
    console.print(f"user [bold]{service}[/]: {'; '.join(service_rules(service, sparkplug))}")
    _done(secret, password_env)


@app.command("sparkplug-credentials")
def sparkplug_credentials(
    edge: Annotated[str, typer.Argument(help="edge node id (becomes the MQTT user name)")],
    group: Annotated[str, typer.Option(help="the only Sparkplug group it may publish in")],
    passwd: Annotated[Path, typer.Option(help="Mosquitto password_file")] = Path(
        ".run/mosquitto/devices.passwd"
    ),
    acl: Annotated[Path, typer.Option(help="Mosquitto acl_file")] = Path(
        ".run/mosquitto/devices.acl"
    ),
    password_env: Annotated[
        str | None, typer.Option(help="take the password from this environment variable")
    ] = None,
) -> None:
    """Create or update a Sparkplug B edge node's MQTT user (device listener): it may
    publish only its own births, data and deaths in its group and read its commands."""
    password = _password(password_env)
    prefix = fsettings.current().mqtt.client_id_prefix
    try:
        secret = add_sparkplug_node(passwd, acl, edge, group, password, service_prefix=prefix)
    except CredentialsError as exc:
        raise typer.BadParameter(exc.reason) from None
    console.print(
        f"user [bold]{edge}[/] may publish spBv1.0/{group}/+/{edge} (and /+) and read its NCMD/DCMD"
        f" ({passwd}, {acl})"
    )
    _done(secret, password_env)
