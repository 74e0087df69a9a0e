"""``forewarn replay`` / ``forewarn detectors replay``: what reliability engineers tune with.

The ``forewarn`` CLI registers :data:`app` and the :func:`replay` command;
``python -m detectors.cli`` runs it alone.
"""

from __future__ import annotations

import csv
import math
import statistics
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from detectors.configuration import ClassConfig, load_config
from detectors.episode_list import episode_rows, episode_table, write_episodes
from detectors.history_csv import Frame, ReplayError, read_csv
from detectors.replay import Result, merged, reference_line, unit_rows
from detectors.replay import replay as run_replay
from detectors.scoring import Report, episodes, evaluate
from detectors.tuning import GridRow, grid, parse_grid, save_plot
from forewarn.errors import ForewarnError

app = typer.Typer(help="Streaming detectors: replay history through a configuration.")
console = Console()


@app.callback()
def _main() -> None:
    """Streaming detectors (replay; the live service is started by the lead's CLI)."""


@app.command("replay")
def replay(
    out: Annotated[Path, typer.Option("--out", help="output CSV: time,score,alarm")],
    csv_path: Annotated[Path | None, typer.Option("--csv", help="history to replay")] = None,
    asset: Annotated[
        str | None, typer.Option("--asset", help="replay this asset's stored telemetry instead")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="with --asset: start (RFC 3339)")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="with --asset: end (RFC 3339)")] = None,
    settings_file: Annotated[
        Path | None, typer.Option("--settings", help="forewarn.yaml, for the database")
    ] = None,
    sep: Annotated[
        str | None,
        typer.Option(
            "--sep", help="field separator (default: read off the file: , ; tab | or blanks)"
        ),
    ] = None,
    time_column: Annotated[str | None, typer.Option("--time-column")] = None,
    columns: Annotated[
        str | None, typer.Option("--columns", help="comma-separated metric columns")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option("--label-column", help="0/1 ground truth, for scoring")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="detector YAML")] = None,
    asset_class: Annotated[
        str | None, typer.Option("--asset-class", help="default: the asset's registered class")
    ] = None,
    warmup: Annotated[
        int | None,
        typer.Option(
            "--warmup", help="warm-up samples; the reference is exactly these rows (no growth)"
        ),
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG of signals/scores")] = None,
    unit_column: Annotated[
        str | None, typer.Option("--unit-column", help="one machine per value (default: unit/...)")
    ] = None,
    grid_specs: Annotated[
        list[str] | None,
        typer.Option("--grid", help="key=v1,v2 (repeatable): a table per configuration"),
    ] = None,
    episodes_out: Annotated[
        Path | None,
        typer.Option("--episodes", help="CSV of every alarm episode (the table shows 20)"),
    ] = None,
) -> None:
    """Run a detector over a CSV or stored history, strictly causally; a row out per row in.

    ``--csv`` may be a directory: every *.csv in it is a machine of one fleet (a unit named
    after its file), each replayed on its own. ``--grid`` replays every combination
    over that labelled set and prints detection rate, lead time, false episodes, F1/FAR.
    Every alarm episode is listed: when, how long, severity, fault mode and the metrics that
    opened it (``--episodes`` writes them all to a CSV).
    """
    if (csv_path is None) == (asset is None):
        console.print("[red]error:[/red] give exactly one of --csv PATH or --asset NAME")
        raise typer.Exit(2)
    try:
        cfg_file = load_config(config)
        if warmup is not None:
            cfg_file = cfg_file.override(warmup=warmup)
        cols = [c.strip() for c in columns.split(",")] if columns else None
        if csv_path is not None:
            paths = sorted(csv_path.glob("*.csv")) if csv_path.is_dir() else [csv_path]
            frames = [
                read_csv(
                    p,
                    sep=sep,
                    time_column=time_column,
                    columns=cols,
                    label_column=label_column,
                    unit_column=unit_column,
                )
                for p in paths
            ]
            if not frames:
                raise ReplayError("no *.csv files", path=str(csv_path))
            if grid_specs:
                rows = grid(frames, cfg_file, parse_grid(grid_specs), asset_class)
                console.print(grid_table(rows))
                return
            named = [(p.stem, f) for p, f in zip(paths, frames, strict=True)]
        else:
            assert asset is not None
            stored, registered = _read_db(settings_file, asset, since, until, cols)
            named = [(asset, stored)]
            asset_class = asset_class or registered
        cfg = cfg_file.for_class(asset_class)
    except ForewarnError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    runs = _run(named, cfg)
    frame, result = (runs[0][1], runs[0][2]) if len(runs) == 1 else merged(runs)
    write_output(out, result, frame.units)
    report = None
    if frame.labels is not None:  # warm-up rows are training, as in the SKAB protocol
        report = Report(delays_s=[])
        for idx in unit_rows(frame):
            t = frame.times[idx].tolist()
            y = [int(frame.labels[i]) for i in idx]
            a = [result.alarms[i] for i in idx]
            report = report.merge(evaluate(t, y, a, start=min(cfg.alarm.warmup, len(idx))))
    console.print(summary(frame, result, report, cfg.config_hash(), out))
    eps = episode_rows(result.events, result.event_rows, frame.stamps, frame.units)
    if eps:
        console.print(episode_table(eps, clock=frame.clock))
    if episodes_out is not None:
        write_episodes(episodes_out, eps)
        console.print(f"episodes written to {episodes_out}")
    if plot is not None:  # one machine's signals: a fleet's first file
        save_plot(plot, runs[0][1], runs[0][2], cfg.alarm.on_threshold, cfg.alarm.warmup)
        console.print(f"plot written to {plot}" + (f" ({runs[0][0]})" if len(runs) > 1 else ""))


def _run(named: list[tuple[str, Frame]], cfg: ClassConfig) -> list[tuple[str, Frame, Result]]:
    """Replay each file on its own (its own detectors), under one progress bar."""
    total = sum(len(f.times) for _, f in named)
    step = max(1, total // 100)
    runs = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=total)
        done = 0
        for name, f in named:

            def tick(i: int, before: int = done) -> None:
                if (before + i) % step == 0:
                    progress.update(task, completed=before + i)

            runs.append((name, f, run_replay(f, cfg, on_row=tick)))
            done += len(f.times)
    return runs


def _read_db(
    settings_file: Path | None,
    asset: str,
    since: str | None,
    until: str | None,
    cols: list[str] | None,
) -> tuple[Frame, str | None]:
    from detectors.replay import read_db
    from forewarn import db as fdb
    from forewarn import settings as fsettings

    s = fsettings.load(settings_file)
    with fdb.connect(s.database.dsn) as conn:
        return read_db(conn, asset, since=since, until=until, columns=cols)


def write_output(path: Path, result: Result, units: list[str] | None = None) -> None:
    """One row per input row (in time order, each unit's on its own); a unit column first
    when the file holds several machines, or the rows of one could not be told apart."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit"] * (units is not None) + ["time", "score", "alarm"])
        rows = zip(result.stamps, result.scores, result.alarms, strict=True)
        for i, (stamp, score, alarm) in enumerate(rows):
            head = [] if units is None else [units[i]]
            w.writerow([*head, stamp, f"{score:.6f}", alarm])


def summary(frame: Frame, result: Result, report: Report | None, chash: str, out: Path) -> Table:
    table = Table(title=f"replay of {len(frame.times)} rows", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for note in frame.notes:  # what reading did to the file, before any figure
        table.add_row("[yellow]read[/yellow]", note)
    cols = frame.columns
    shown = ", ".join(cols) if len(cols) <= 24 else f"{len(cols)}: {', '.join(cols[:12])}, ..."
    table.add_row("metrics", shown)
    table.add_row("config hash", chash)
    if result.interval_s is not None:
        every = f"every {_duration(result.interval_s)}"
        if result.retimed:
            every += ", counts shortened to match"
        table.add_row("sampling", every)
    if result.references:
        table.add_row("reference", reference_line(result))
    table.add_row("alarm episodes", str(len(episodes(result.alarms))))
    table.add_row(
        "rows in alarm",
        f"{sum(result.alarms)} ({sum(result.alarms) / max(1, len(result.alarms)):.1%})",
    )
    table.add_row("max score", f"{max(result.scores, default=0.0):.3f}")
    if frame.units is not None:
        for figure, value in fleet(frame, result):
            table.add_row(figure, value)
    modes = sorted({e.fault_mode for e in result.events if e.fault_mode})
    table.add_row("suspected fault modes", ", ".join(modes) or "-")
    if report is not None:
        table.add_row("faults detected", f"{report.detected} of {report.faults}")
        delay = report.median_delay_s
        table.add_row("median detection delay", "-" if delay is None else f"{delay:.0f} s")
        fpd = report.false_per_asset_day
        table.add_row("false alarm episodes", str(report.false_episodes))
        table.add_row("false alarm episodes / asset-day", "-" if fpd is None else f"{fpd:.2f}")
        table.add_row("point-wise F1", f"{report.f1:.3f}")
        table.add_row("FAR (false alarm rate)", f"{report.far:.1%}")
        table.add_row("MAR (missed alarm rate)", f"{report.mar:.1%}")
    table.add_row("output", str(out))
    return table


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def fleet(frame: Frame, result: Result) -> list[tuple[str, str]]:
    """Per-unit figures of a file of several machines: how many alarmed at all, and how many
    were in alarm at their last row (for a run-to-failure file, the failure) and since when."""
    idx = unit_rows(frame)
    alarmed = sum(1 for rows in idx if any(result.alarms[i] for i in rows))
    ahead: list[float] = []
    for rows in idx:
        a = [result.alarms[i] for i in rows]
        spans = episodes(a)
        if a and a[-1] and spans:
            first = rows[spans[-1][0]]
            ahead.append(
                (frame.times[rows[-1]] - frame.times[first]) / 3600.0
                if frame.clock
                else float(len(rows) - 1 - spans[-1][0])
            )
    unit = "h" if frame.clock else "rows"
    last = f"{len(ahead)} of {len(idx)}"
    if ahead:
        last += f" (opened a median {statistics.median(ahead):.0f} {unit} before it)"
    return [
        ("units", str(len(idx))),
        ("units that alarmed", f"{alarmed} of {len(idx)}"),
        ("units in alarm at their last row", last),
    ]


def grid_table(rows: list[GridRow]) -> Table:
    table = Table(title="configurations over the labelled set", show_header=True)
    table.add_column("configuration", no_wrap=True, overflow="fold", min_width=24)
    for col in ("units", "detected", "median", "false/asset-day", "F1", "FAR"):
        table.add_column(col, justify="right")
    for r in rows:
        rate = f"{r.detected}/{r.faults}" + (f" ({r.detected / r.faults:.0%})" if r.faults else "")
        med = "-" if r.median_lead is None else f"{r.median_lead:.1f} ({r.lead_unit})"
        table.add_row(
            " ".join(f"{k}={v}" for k, v in r.values.items()) or "(shipped)",
            str(r.units), rate, med,
            "-" if r.false_per_day is None else f"{r.false_per_day:.3f}",
            "-" if r.f1 is None else f"{r.f1:.3f}",
            "-" if r.far is None else f"{r.far:.1%}",
        )  # fmt: skip
    return table


SettingsOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="settings YAML (default ./forewarn.yaml)")
]


def _settings(config: Path | None) -> tuple[Any, Any]:
    from detectors.service import DetectorsSettings
    from forewarn import settings as fsettings

    s = fsettings.load(config)
    return s, fsettings.section(s, "detectors", DetectorsSettings)


@app.command("run")
def run(config: SettingsOpt = None) -> None:
    """Run the live detector service until Ctrl-C or SIGTERM (then checkpoint and exit)."""
    import signal
    import threading

    from detectors import metrics
    from detectors.service import DetectorService
    from forewarn import observe

    try:
        s, section = _settings(config)
        observe.setup_logging(s, "detectors")
        svc = DetectorService(s, section)
        svc.start()
        probes = metrics.serve(svc)
    except ForewarnError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    svc.stop()
    if probes is not None:
        probes.stop()
    console.print(f"stopped; {svc.counts}")


if __name__ == "__main__":
    app()


@app.command("baseline")
def baseline(
    asset: Annotated[str, typer.Argument(help="the asset whose healthy reference to re-learn")],
    since: Annotated[str, typer.Option("--from", help="window start (RFC 3339)")],
    until: Annotated[str, typer.Option("--to", help="window end (RFC 3339)")],
    why: Annotated[str, typer.Option("--why", help="recorded with the change")] = "by command",
    who: Annotated[str | None, typer.Option("--by", help="who asks (default: $USER)")] = None,
    config: SettingsOpt = None,
) -> None:
    """Re-learn ASSET's frozen healthy reference from a stored window (recorded with who/why).

    The worker that owns the asset applies the request at its next feedback poll; the
    window must be healthy running (the reference is what 'healthy' means from then on).
    """
    import getpass

    from detectors import store
    from detectors.replay import _utc
    from forewarn import db as fdb

    try:
        start, end = _utc(since), _utc(until)
    except ValueError as exc:
        console.print(f"[red]error:[/red] --from/--to: {exc}")
        raise typer.Exit(2) from None
    if end <= start:
        console.print("[red]error:[/red] --to must be after --from")
        raise typer.Exit(2)
    try:
        s, _ = _settings(config)
        with fdb.connect(s.database.dsn) as conn:
            n = conn.execute(
                "select count(*) from telemetry where asset = %s and time >= %s and time < %s",
                (asset, start.to_pydatetime(), end.to_pydatetime()),
            ).fetchone()
            if not n or n[0] == 0:
                console.print(f"[red]error:[/red] no telemetry stored for {asset!r} in that window")
                raise typer.Exit(2)
            rid = store.request_baseline(
                conn, asset, start.to_pydatetime(), end.to_pydatetime(), why,
                who or getpass.getuser(),
            )  # fmt: skip
    except ForewarnError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"baseline request {rid} for {asset}: the owning worker applies it")


HEALTH_SQL = """select distinct on (asset) asset, site, ts, health, slope_per_day,
       time_to_threshold_h, alarm, state, ref_to
  from asset_health
 where (%(site)s::text is null or site = %(site)s)
   and (%(asset)s::text is null or asset = %(asset)s)
 order by asset, ts desc"""


@app.command("health")
def health(
    site: Annotated[str | None, typer.Option("--site", help="only this site's assets")] = None,
    asset: Annotated[str | None, typer.Option("--asset", help="only this asset")] = None,
    config: SettingsOpt = None,
) -> None:
    """Each asset's health index (1 healthy .. 0), its trend per day and the hours until it
    reaches the alarm bar, as of the last checkpoint; the nearest to the bar first."""
    from forewarn import db as fdb

    try:
        s, _ = _settings(config)
        with fdb.connect(s.database.dsn) as conn:
            rows = conn.execute(HEALTH_SQL, {"site": site, "asset": asset}).fetchall()
    except ForewarnError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if not rows:
        which = f" for asset {asset!r}" if asset else (f" at site {site!r}" if site else "")
        console.print(
            f"no health recorded{which} yet: the detector service writes it with each checkpoint"
        )
        raise typer.Exit(1 if asset or site else 0)
    console.print(health_table(rows))


def health_table(rows: list[tuple[Any, ...]]) -> Table:
    def order(r: tuple[Any, ...]) -> tuple[float, float, str]:
        ttt, h = r[5], r[3]
        return (math.inf if ttt is None else ttt, math.inf if h is None else h, r[0])

    table = Table(title="asset health (1 healthy .. 0; the alarm bar is usually 0.5)")
    table.add_column("asset", no_wrap=True)
    for col in ("site", "state", "health", "trend/day", "to threshold", "alarm"):
        table.add_column(col, justify="right" if col in ("health", "trend/day") else "left")
    table.add_column("reference age", justify="right")
    table.add_column("as of (last sample)")
    for asset, site, ts, h, slope, ttt, alarm, state, ref_to in sorted(rows, key=order):
        table.add_row(
            asset,
            site or "-",
            state,
            "-" if h is None else f"{h:.2f}",
            "-" if slope is None else f"{slope:+.3f}",
            "-" if ttt is None else ("now" if ttt == 0 else _hours(ttt)),
            "[red]ALARM[/red]" if alarm else "ok",
            "-" if ref_to is None else _hours((ts - ref_to).total_seconds() / 3600),
            ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
        )
    return table


def _hours(h: float) -> str:
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} d"
