"""``forewarn sim``: run a scenario, export its ground truth, list register maps."""

from __future__ import annotations

import asyncio
import json
import math
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from device_sim.engine import Fleet
from device_sim.runner import RunStats, Sink, run
from device_sim.scenario import builtin_names, load_scenario, parse_duration
from device_sim.truth import write_truth
from forewarn.contract import utc
from forewarn.errors import ForewarnError
from forewarn.registers import load_profile, load_profiles, plan_profile_reads

app = typer.Typer(
    help="Fleet simulator: Modbus devices, MQTT devices, ground truth.", no_args_is_help=True
)
console = Console()
MAX_STEPS_PER_S = 200
NICE_PERIODS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)

ScenarioArg = Annotated[
    str, typer.Argument(help=f"YAML file or built-in name ({', '.join(builtin_names())})")
]


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2)


def _start(value: str | None) -> datetime | None:
    if value is None:
        return None
    if value == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("use RFC 3339, e.g. 2026-01-05T00:00:00Z, or 'now'") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@app.command("run")
def run_cmd(
    scenario: ScenarioArg,
    mqtt: Annotated[bool, typer.Option("--mqtt", help="publish as MQTT-native devices")] = False,
    modbus: Annotated[bool, typer.Option("--modbus", help="serve Modbus TCP devices")] = False,
    sparkplug: Annotated[
        bool, typer.Option("--sparkplug", help="publish as Sparkplug B edge nodes (one per site)")
    ] = False,
    speed: Annotated[
        float | None, typer.Option(help="simulated s per wall s (default: scenario)")
    ] = None,
    fast: Annotated[bool, typer.Option("--max", help="as fast as possible")] = False,
    duration: Annotated[str | None, typer.Option(help="e.g. 2h, 3d (default: scenario)")] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="simulated start, RFC 3339 or 'now' (default: the scenario's; "
            "else now in real time, else so that an accelerated run ends now)"
        ),
    ] = None,
    sample_period: Annotated[
        float | None,
        typer.Option(
            help="simulated s between samples (default: scenario, "
            "coarsened when --speed would need > 200 steps/s)"
        ),
    ] = None,
    mqtt_url: Annotated[str | None, typer.Option(help="default: settings mqtt.url")] = None,
    config: Annotated[Path | None, typer.Option(help="forewarn.yaml settings file")] = None,
    host: Annotated[str, typer.Option(help="Modbus listen address")] = "127.0.0.1",
    base_port: Annotated[int, typer.Option(help="first Modbus port")] = 15020,
    layout: Annotated[
        str, typer.Option(help="unit: 247 devices per port; port: one each")
    ] = "unit",
    profiles_dir: Annotated[Path | None, typer.Option(help="register maps folder")] = None,
    device_map: Annotated[Path | None, typer.Option(help="write Modbus endpoints (JSON)")] = None,
    truth_out: Annotated[Path | None, typer.Option(help="write ground truth (.csv/.json)")] = None,
    opcua: Annotated[
        bool, typer.Option("--opcua", help="serve the fleet as one OPC UA server")
    ] = False,
    opcua_port: Annotated[int, typer.Option(help="OPC UA port")] = 4840,
    opcua_configs: Annotated[
        Path | None,
        typer.Option(help="write OPC UA node maps and one gateway config per site here"),
    ] = None,
) -> None:
    """Run SCENARIO in real or accelerated time, feeding MQTT, Modbus and/or OPC UA."""
    try:
        if mqtt and sparkplug:
            raise typer.BadParameter("choose --mqtt or --sparkplug, not both")
        sc = load_scenario(scenario)
        pace = None if fast else (speed or sc.speed)
        period = sample_period or sc.sample_period_s
        if sample_period is None and pace is not None and pace / period > MAX_STEPS_PER_S:
            period = next((p for p in NICE_PERIODS if pace / p <= MAX_STEPS_PER_S), 3600.0)
            console.print(
                f"speed {pace:g}x with {sc.sample_period_s:g} s samples would need "
                f"{pace / sc.sample_period_s:.0f} steps/s; sampling every {period:g} s "
                "(set --sample-period to choose)"
            )
        if period <= 0:
            raise typer.BadParameter("--sample-period must be positive")
        seconds = parse_duration(duration) if duration else sc.duration
        # Sensor-fault episodes are drawn over the scenario's duration: cover the whole run.
        sc = sc.model_copy(
            update={"sample_period_s": period, "duration": max(seconds, sc.duration)}
        )
        begin = _start(start)
        if begin is None and sc.start is None and (pace is None or pace > 1):
            # Accelerated time runs ahead of the wall clock, and ingest refuses future
            # timestamps: start in the past so the run ends about now.
            begin = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds)
            console.print(
                f"accelerated run: simulated time {utc(begin)} .. now (--start to choose)"
            )
        fleet = Fleet(sc, start=begin)
        steps = math.ceil(seconds / sc.sample_period_s)
        if truth_out:
            write_truth(fleet.truth(), fleet.start, truth_out)
        stats, published = asyncio.run(
            _run(
                fleet,
                steps,
                pace,
                mqtt,
                modbus,
                mqtt_url,
                config,
                host,
                base_port,
                layout,
                profiles_dir,
                device_map,
                sparkplug=sparkplug,
                opcua=(opcua_port, opcua_configs) if opcua else None,
            )
        )
    except (ForewarnError, ValueError) as exc:
        raise _fail(exc) from None
    table = Table(title=f"scenario {sc.name}: {len(fleet.assets)} assets")
    for col in ("steps", "simulated", "wall", "speed", "late steps", "max lag", "MQTT msgs"):
        table.add_column(col, justify="right")
    table.add_row(
        str(stats.steps),
        f"{stats.sim_seconds / 3600:.2f} h",
        f"{stats.wall_seconds:.1f} s",
        f"{stats.speed:.1f}x",
        str(stats.late_steps),
        f"{stats.max_lag_s:.2f} s",
        str(published),
    )
    console.print(table)


async def _run(
    fleet: Fleet,
    steps: int,
    pace: float | None,
    mqtt: bool,
    modbus: bool,
    mqtt_url: str | None,
    config: Path | None,
    host: str,
    base_port: int,
    layout: str,
    profiles_dir: Path | None,
    device_map: Path | None,
    sparkplug: bool = False,
    opcua: tuple[int, Path | None] | None = None,
) -> tuple[RunStats, int]:
    from device_sim.modbus_out import ModbusFleet
    from device_sim.mqtt_out import MqttFleet
    from device_sim.sparkplug_out import SparkplugFleet
    from forewarn import settings as fw_settings

    sinks: list[Sink] = []
    publisher: MqttFleet | SparkplugFleet | None = None
    server = None
    if mqtt or sparkplug:
        s = fw_settings.load(config).mqtt
        if mqtt_url:
            s = s.model_copy(
                update={"url": fw_settings.MqttSettings.model_validate({"url": mqtt_url}).url}
            )
        publisher = SparkplugFleet(fleet, s) if sparkplug else MqttFleet(fleet, s)
        publisher.start()
        sinks.append(publisher)
    if modbus:
        server = ModbusFleet(
            fleet, load_profiles(profiles_dir), host=host, base_port=base_port, layout=layout
        )
        await server.start()
        ports = sorted({e.port for e in server.endpoints})
        console.print(
            f"Modbus: {len(server.endpoints)} devices on {host} ports {ports[0]}..{ports[-1]}"
        )
        if device_map:
            await asyncio.to_thread(
                device_map.write_text, json.dumps(server.device_map(), indent=1)
            )
    ua_server = None
    if opcua is not None:
        from device_sim.opcua_out import OpcuaFleet

        ua_server = OpcuaFleet(fleet, host=host, port=opcua[0])
        await ua_server.start()
        sinks.append(ua_server)
        console.print(f"OPC UA: {len(fleet.assets)} assets at {ua_server.url}")
        if opcua[1] is not None:
            written = await asyncio.to_thread(ua_server.write_configs, opcua[1])
            console.print(f"gateway configs: {', '.join(str(p) for p in written)}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("simulating", total=steps)
            stats = await run(
                fleet,
                sinks,
                steps=steps,
                speed=pace,
                stop=stop,
                progress=lambda n: bar.advance(task, n),
            )
    finally:
        if publisher is not None:
            await asyncio.to_thread(publisher.stop)
        if server is not None:
            await server.stop()
        if ua_server is not None:
            await ua_server.stop()
    return stats, publisher.stats.messages if publisher else 0


@app.command()
def truth(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option(help="output file: .csv or .json")],
    start: Annotated[str | None, typer.Option(help="simulated start (RFC 3339)")] = None,
) -> None:
    """Export what SCENARIO injects: degradations, sudden faults, sensor faults."""
    try:
        fleet = Fleet(load_scenario(scenario), start=_start(start))
        events = fleet.truth()
        write_truth(events, fleet.start, out)
    except (ForewarnError, ValueError) as exc:
        raise _fail(exc) from None
    kinds = {k: sum(e.kind == k for e in events) for k in ("degradation", "sudden", "sensor")}
    console.print(
        f"{len(events)} events to {out}: " + ", ".join(f"{v} {k}" for k, v in kinds.items())
    )


@app.command()
def export(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option(help="folder for <asset>.csv files")],
    duration: Annotated[str | None, typer.Option(help="e.g. 7d (default: scenario)")] = None,
    sample_period: Annotated[float | None, typer.Option(help="simulated s per row")] = None,
    asset: Annotated[list[str] | None, typer.Option(help="only these assets (repeatable)")] = None,
    start: Annotated[str | None, typer.Option(help="simulated start (RFC 3339)")] = None,
) -> None:
    """Write offline history (one CSV per asset, with a degradation label) and truth."""
    from device_sim.export import export_history

    try:
        sc = load_scenario(scenario)
        if sample_period is not None:
            if sample_period <= 0:
                raise typer.BadParameter("--sample-period must be positive")
            sc = sc.model_copy(update={"sample_period_s": sample_period})
        seconds = parse_duration(duration) if duration else sc.duration
        sc = sc.model_copy(update={"duration": max(seconds, sc.duration)})
        fleet = Fleet(sc, start=_start(start))
        unknown = sorted(set(asset or []) - set(fleet.where))
        if unknown:
            raise ValueError(f"unknown asset(s): {', '.join(unknown)}")
        steps = math.ceil(seconds / sc.sample_period_s)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("simulating", total=steps)
            paths = export_history(
                fleet,
                steps,
                out,
                assets=set(asset) if asset else None,
                progress=lambda n: bar.advance(task, n),
            )
        write_truth(fleet.truth(), fleet.start, out / "truth.csv")
    except (ForewarnError, ValueError) as exc:
        raise _fail(exc) from None
    console.print(
        f"{len(paths)} asset histories ({steps} rows each at most) and truth.csv in {out}"
    )


@app.command()
def profiles(
    name: Annotated[str | None, typer.Argument(help="show this profile's points")] = None,
    directory: Annotated[Path | None, typer.Option("--dir", help="register maps folder")] = None,
) -> None:
    """List vendor register maps (profiles), or one profile's points."""
    try:
        found = load_profiles(directory)
        if name is not None and Path(name).suffix in (".yaml", ".yml"):
            p = load_profile(name)
            found = {p.profile: p}
            name = p.profile
    except ForewarnError as exc:
        raise _fail(exc) from None
    if name is None:
        table = Table(title="register maps")
        for col in (
            "profile",
            "vendor",
            "model",
            "asset class",
            "unit",
            "points",
            "reads/poll",
            "period",
        ):
            table.add_column(col)
        for p in found.values():
            table.add_row(
                p.profile,
                p.vendor,
                p.model,
                p.asset_class,
                str(p.device.unit_id),
                str(len(p.points)),
                str(len(plan_profile_reads(p))),
                f"{p.device.poll_period_s:g} s",
            )
        console.print(table)
        return
    if name not in found:
        raise _fail(KeyError(f"no profile {name!r}; have {', '.join(found)}"))
    p = found[name]
    table = Table(title=f"{p.profile}: {p.vendor} {p.model} ({p.asset_class})")
    for col in ("point", "kind", "address", "type", "order", "scale", "offset", "unit", "metric"):
        table.add_column(col)
    for pt in p.points:
        order = "" if pt.is_bit else f"{pt.byte_order}/{pt.word_order}"
        table.add_row(
            pt.name,
            pt.kind,
            f"{pt.address}" + (f"..{pt.end - 1}" if pt.width > 1 else ""),
            pt.type,
            order,
            f"{pt.scale:g}",
            f"{pt.offset:g}",
            pt.unit or "",
            pt.metric or "",
        )
    console.print(table)


@app.command()
def check(files: Annotated[list[Path], typer.Argument(help="profiles or scenarios")]) -> None:
    """Validate profile and scenario files; print every problem with file and line."""
    bad = 0
    for f in files:
        try:
            text = f.read_text(encoding="utf-8") if f.exists() else ""
            kind = "profile" if "points:" in text else "scenario"
            (load_profile if kind == "profile" else load_scenario)(f)
            console.print(f"[green]ok[/green] {f} ({kind})")
        except ForewarnError as exc:
            bad += 1
            console.print(f"[red]refused[/red] {exc}", highlight=False)
    if bad:
        raise typer.Exit(2)
