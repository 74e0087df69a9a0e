"""The demo supervisor never orphans its services.

Faults tried: the reader of the supervisor's stdout dies (``make demo | tee log`` and the
tee goes on Ctrl-C) before the supervisor is interrupted; the supervisor is SIGKILLed.
Either way no child may survive it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forewarn.supervisor import ROOT

pytestmark = pytest.mark.timeout(90)

SCRIPT = """
import os, sys
from pathlib import Path
from forewarn import supervisor as sv
nap = [sys.executable, "-c", "import time; time.sleep(300)"]
children = [sv.Child(name, nap) for name in ("ingest", "detectors", "ticketing")]
sv.supervise(children, dict(os.environ), Path(sys.argv[1]), banner="supervising")
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    env = {**os.environ, "FOREWARN_RUN_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "logs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert b"supervising" in proc.stdout.readline()  # started, and its stdout is ours
    state = json.loads((tmp_path / "demo.json").read_text())
    pids = list(state["services"].values())
    assert len(pids) == 3 and all(alive(p) for p in pids)
    return proc, pids


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_dead_stdout_reader_does_not_skip_the_shutdown(tmp_path: Path, signum: int) -> None:
    proc, pids = start(tmp_path)
    try:
        assert proc.stdout is not None
        proc.stdout.close()  # the tee is gone: every later write is EPIPE
        proc.send_signal(signum)
        assert proc.wait(60) == 0
        assert wait_gone(pids) == []
        assert not (tmp_path / "demo.json").exists()
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    proc, pids = start(tmp_path)
    try:
        proc.kill()  # no handler runs: only the parent-death signal can stop the children
        proc.wait(10)
        assert wait_gone(pids) == []
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
