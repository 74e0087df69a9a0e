"""How many simulated Modbus devices one simulator process serves to a 1 Hz poller.

The simulator runs as a child process (``forewarn sim run --modbus``, real time) and a
poller here reads every device with its profile's coalesced read plan, one pyModbusTCP
client per port in its own thread, for a fixed time. Baseline, measured in the same run:
a bare pymodbus server (the same SimDevice layouts, static registers, no encode-on-read
hook) in a child process, polled identically. Run: ``python -m bench.sim_modbus``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pyModbusTCP.client import ModbusClient
from rich.console import Console
from rich.table import Table

from forewarn.registers import load_profiles, plan_profile_reads

console = Console()
QUICK = bool(os.environ.get("FOREWARN_BENCH_QUICK"))
SIZES = [40, 400] if QUICK else [40, 400, 2000]
POLL_S = 3.0 if QUICK else 6.0
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]

RAW_SERVER = """
import asyncio, json, sys
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
spec = json.loads(sys.argv[1])
async def main():
    servers = []
    for port, units in spec.items():
        devs = []
        for unit, blocks in units:
            simdata = []
            for kind, spans in zip(("coil", "discrete", "holding", "input"), blocks):
                if kind in ("coil", "discrete"):
                    sd = [SimData(a, values=True, datatype=DataType.BITS) for a, n in spans]
                    sd = sd or [SimData(65520, values=False, datatype=DataType.BITS)]
                else:
                    sd = [SimData(a, count=n, values=1234, datatype=DataType.REGISTERS)
                          for a, n in spans] or [SimData(65535, values=0, datatype=DataType.INVALID)]
                simdata.append(sd)
            devs.append(SimDevice(unit, simdata=tuple(simdata)))
        s = ModbusTcpServer(devs, address=("127.0.0.1", int(port)))
        await s.serve_forever(background=True)
        servers.append(s)
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def free_base(n: int) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok and base + n < 65000:
            return base
    raise RuntimeError("no free ports")


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open")


def scenario_yaml(n: int) -> str:
    per = n // 4
    fleet = "".join(
        f"  - {{site: s, asset_class: {c}, count: {per}}}\n"
        for c in ("centrifugal_pump", "electric_motor", "air_compressor", "chiller")
    )
    return (
        "name: benchmodbus\nseed: 1\nduration: 1d\nsites: [{id: s, lat: 0, lon: 0}]\n"
        "fleet:\n" + fleet
    )


def poll(endpoints: list[dict], profiles: dict, seconds: float) -> tuple[int, int, int]:
    """(reads, devices fully polled, errors) in ``seconds``, one thread per port."""
    by_port: dict[int, list[dict]] = {}
    for e in endpoints:
        by_port.setdefault(e["port"], []).append(e)
    plans = {name: plan_profile_reads(p) for name, p in profiles.items()}
    totals = {"reads": 0, "devices": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(port: int, devs: list[dict]) -> None:
        c = ModbusClient(host="127.0.0.1", port=port, timeout=5, auto_open=True)
        reads = devices = errors = 0
        i = 0
        while time.monotonic() < stop:
            e = devs[i % len(devs)]
            i += 1
            c.unit_id = e["unit_id"]
            for r in plans[e["profile"]]:
                fn = {
                    "coil": c.read_coils,
                    "discrete": c.read_discrete_inputs,
                    "holding": c.read_holding_registers,
                    "input": c.read_input_registers,
                }[r.kind]
                if fn(r.address, r.count) is None:
                    errors += 1
                reads += 1
            devices += 1
        c.close()
        with lock:
            totals["reads"] += reads
            totals["devices"] += devices
            totals["errors"] += errors

    threads = [threading.Thread(target=worker, args=(p, d)) for p, d in by_port.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return totals["reads"], totals["devices"], totals["errors"]


def raw_spec(endpoints: list[dict], profiles: dict) -> dict[str, list]:
    spec: dict[str, list] = {}
    for e in endpoints:
        blocks = []
        for kind in ("coil", "discrete", "holding", "input"):
            blocks.append(
                [
                    [r.address, r.count]
                    for r in plan_profile_reads(profiles[e["profile"]])
                    if r.kind == kind
                ]
            )
        spec.setdefault(str(e["port"]), []).append([e["unit_id"], blocks])
    return spec


def main() -> None:
    profiles = load_profiles()
    rows = []
    for n in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            sc, dmap = Path(tmp) / "s.yaml", Path(tmp) / "devices.json"
            sc.write_text(scenario_yaml(n))
            ports = (n + 246) // 247
            base = free_base(ports * 2)
            sim = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from device_sim.cli import app; app()",
                    "run",
                    str(sc),
                    "--modbus",
                    "--base-port",
                    str(base),
                    "--speed",
                    "1",
                    "--duration",
                    "1h",
                    "--device-map",
                    str(dmap),
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_port(base + ports - 1)
                while not dmap.exists() or not dmap.read_text().strip():
                    time.sleep(0.1)
                endpoints = json.loads(dmap.read_text())
                time.sleep(1.0)
                reads, devices, errors = poll(endpoints, profiles, POLL_S)
            finally:
                sim.terminate()
                sim.wait(20)
            raw_base = base + ports
            shifted = [{**e, "port": e["port"] - base + raw_base} for e in endpoints]
            raw = subprocess.Popen(
                [sys.executable, "-c", RAW_SERVER, json.dumps(raw_spec(shifted, profiles))],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_port(raw_base + ports - 1)
                raw_reads, raw_devices, raw_errors = poll(shifted, profiles, POLL_S)
            finally:
                raw.terminate()
                raw.wait(20)
        rows.append(
            {
                "devices": n,
                "ports": ports,
                "reads_per_s": reads / POLL_S,
                "devices_polled_per_s": devices / POLL_S,
                "errors": errors,
                "raw_reads_per_s": raw_reads / POLL_S,
                "raw_errors": raw_errors,
                "raw_devices_polled_per_s": raw_devices / POLL_S,
            }
        )
        console.print(f"{n} devices: {reads / POLL_S:.0f} reads/s (raw {raw_reads / POLL_S:.0f})")
    table = Table(title=f"simulated Modbus devices polled over TCP ({os.cpu_count()} cores)")
    for col in ("devices", "ports", "reads/s", "devices/s", "raw reads/s", "vs raw", "errors"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["devices"]),
            str(r["ports"]),
            f"{r['reads_per_s']:.0f}",
            f"{r['devices_polled_per_s']:.0f}",
            f"{r['raw_reads_per_s']:.0f}",
            f"{r['reads_per_s'] / r['raw_reads_per_s']:.2f}",
            str(r["errors"]),
        )
    console.print(table)
    console.print(
        "devices/s = devices one poller can read completely per second (all its "
        "coalesced reads): the 1 Hz capacity of one simulator process over Modbus."
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_modbus.json").write_text(
        json.dumps({"poll_seconds": POLL_S, "quick": QUICK, "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
