"""``forewarn replay`` / ``forewarn detectors replay``: what reliability engineers tune with.

The ``forewarn`` CLI registers :data:`app` and the :func:`replay` command;
``python -m detectors.cli`` runs it alone.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from detectors.configuration import load_config
from detectors.replay import Frame, Result, read_csv
from detectors.replay import replay as run_replay
from detectors.scoring import Report, episodes, evaluate
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
    sep: Annotated[str, typer.Option("--sep", help="field separator")] = ",",
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
        int | None, typer.Option("--warmup", help="override alarm warm-up (samples)")
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG of signals/scores")] = None,
) -> None:
    """Run a detector over a CSV or stored history, strictly causally; a row out per row in."""
    if (csv_path is None) == (asset is None):
        console.print("[red]error:[/red] give exactly one of --csv PATH or --asset NAME")
        raise typer.Exit(2)
    try:
        cfg_file = load_config(config)
        if warmup is not None:
            cfg_file = cfg_file.override(warmup=warmup)
        cols = [c.strip() for c in columns.split(",")] if columns else None
        if csv_path is not None:
            frame = read_csv(
                csv_path, sep=sep, time_column=time_column, columns=cols, label_column=label_column
            )
        else:
            assert asset is not None
            frame, registered = _read_db(settings_file, asset, since, until, cols)
            asset_class = asset_class or registered
        cfg = cfg_file.for_class(asset_class)
    except ForewarnError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    n = len(frame.times)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=n)
        step = max(1, n // 100)

        def tick(i: int) -> None:
            if i % step == 0:
                progress.update(task, completed=i)

        result = run_replay(frame, cfg, on_row=tick)
    write_output(out, result)
    report = None
    if frame.labels is not None:  # warm-up rows are training, as in the SKAB protocol
        start = min(cfg.alarm.warmup, n)
        report = evaluate(frame.times.tolist(), frame.labels.tolist(), result.alarms, start=start)
    console.print(summary(frame, result, report, cfg.config_hash(), out))
    if plot is not None:
        save_plot(plot, frame, result)
        console.print(f"plot written to {plot}")


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


def write_output(path: Path, result: Result) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "score", "alarm"])
        for stamp, score, alarm in zip(result.stamps, result.scores, result.alarms, strict=True):
            w.writerow([stamp, f"{score:.6f}", alarm])


def summary(frame: Frame, result: Result, report: Report | None, chash: str, out: Path) -> Table:
    table = Table(title=f"replay of {len(frame.times)} rows", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("metrics", ", ".join(frame.columns))
    table.add_row("config hash", chash)
    table.add_row("alarm episodes", str(len(episodes(result.alarms))))
    table.add_row(
        "rows in alarm",
        f"{sum(result.alarms)} ({sum(result.alarms) / max(1, len(result.alarms)):.1%})",
    )
    table.add_row("max score", f"{max(result.scores, default=0.0):.3f}")
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


def save_plot(path: Path, frame: Frame, result: Result) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = range(len(frame.times))
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(12, 6))
    for j, name in enumerate(frame.columns):
        col = frame.values[:, j]
        span = (col.max() - col.min()) or 1.0
        ax1.plot(x, (col - col.min()) / span, lw=0.7, label=name)
    ax1.set_ylabel("signals (min-max)")
    ax1.legend(fontsize=6, loc="upper left", ncol=4)
    ax2.plot(x, result.scores, lw=0.8, color="black", label="score")
    ax2.fill_between(x, 0, result.alarms, color="red", alpha=0.25, step="mid", label="alarm")
    if frame.labels is not None:
        ax2.fill_between(
            x, 0, frame.labels * 0.5, color="blue", alpha=0.2, step="mid", label="label"
        )
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("row")
    ax2.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
