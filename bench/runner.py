"""Run every benchmark module and gather their figures into one table and one JSON file.

Each ``bench/<name>.py`` runs on its own (``python -m bench.<name>``), prints its own table
and writes ``bench/results/<name>.json``; this runner runs them in turn in fresh processes,
so one benchmark's memory or threads never colour another's figures.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
console = Console()


def available() -> list[str]:
    skip = {"__init__", "__main__", "runner", "cli", "common", "soak"}  # soak: not in CI
    return sorted(
        p.stem for p in HERE.glob("*.py") if p.stem not in skip and not p.stem.startswith("_")
    )


def run(names: list[str] | None = None, quick: bool = False) -> dict[str, Any]:
    names = names or available()
    RESULTS.mkdir(exist_ok=True)
    summary: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "benchmarks": {},
    }
    table = Table(title=f"Forewarn benchmarks ({os.cpu_count()} cores)")
    for col in ("benchmark", "status", "seconds"):
        table.add_column(col)
    env = {**os.environ, "FOREWARN_BENCH_QUICK": "1" if quick else ""}
    for name in names:
        console.rule(name)
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", f"bench.{name}"], env=env, check=False)
        took = time.monotonic() - start
        result_file = RESULTS / f"{name}.json"
        data = json.loads(result_file.read_text()) if result_file.exists() else None
        summary["benchmarks"][name] = {
            "returncode": proc.returncode,
            "seconds": round(took, 1),
            "result": data,
        }
        table.add_row(
            name, "ok" if proc.returncode == 0 else f"[red]exit {proc.returncode}[/]", f"{took:.0f}"
        )
    console.print(table)
    (RESULTS / "latest.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    console.print(f"wrote {RESULTS / 'latest.json'}")
    return summary
