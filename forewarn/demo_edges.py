"""How the simulated fleet reaches the pipeline in ``forewarn demo`` and the fleet benchmark.

Four edges: ``mqtt`` (devices publishing the v1 JSON contract), ``sparkplug`` (one Sparkplug
B edge node per site, decoded by ingest's Sparkplug intake), ``opcua`` (one OPC UA server
for the fleet, read by one gateway per site) and ``modbus`` (benchmark only: the gateways
need the simulator's device map, which exists only once its servers run). Kept apart from
the supervisor so the demo and the benchmark wire an edge the same way.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml

from forewarn import yamlsafe

EDGES = ("modbus", "mqtt", "sparkplug", "opcua")
DEMO_EDGES = ("mqtt", "sparkplug", "opcua")


def ingest_env(edge: str) -> dict[str, str]:
    """What the services' environment needs for ``edge``: Sparkplug intake is off by default."""
    if edge not in EDGES:
        raise ValueError(f"edge: {edge!r} is not one of {', '.join(EDGES)}")
    return {"FOREWARN_SPARKPLUG__ENABLED": "true"} if edge == "sparkplug" else {}


def opcua_gateways(scenario: str | Path, folder: Path, port: int, **server: Any) -> dict[str, Path]:
    """One gateway config per site reading the simulator's OPC UA server on ``port``.

    Written before the server starts (they depend only on the fleet), so the gateways may
    start first and connect with their ordinary reconnect backoff; each gets a buffer of
    its own (two gateways must never share one SQLite buffer). ``server`` overrides the
    subscription settings (e.g. ``sampling_interval_ms``).
    """
    from device_sim import Fleet, load_scenario
    from device_sim.opcua_out import OpcuaFleet

    ua = OpcuaFleet(Fleet(load_scenario(scenario)), port=port)
    out = {}
    for path in ua.write_configs(folder, **server):
        cfg = yamlsafe.load(path.read_text())
        cfg["buffer"] = {"path": str(folder.resolve() / f"gw-{path.stem}-ua.sqlite")}
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        out[path.stem] = path
    return out


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_edge(edge: str, scenario: str, speed: float, folder: Path) -> dict[str, list[str]]:
    """The ``forewarn`` argument lists (name -> args) that feed the demo's fleet over ``edge``.

    One sample a simulated minute (the rate the detectors' simulator classes are tuned
    for). The OPC UA gateways subscribe with sampling interval 0 (every write reported) and
    a deep server queue, since the accelerated simulator writes many frames a second.
    """
    if edge not in DEMO_EDGES:
        raise ValueError(f"edge: {edge!r} is not one of {', '.join(DEMO_EDGES)}")
    sim = ["sim", "run", scenario, "--speed", f"{speed:g}", "--sample-period", "60"]
    if edge != "opcua":
        return {"sim": [*sim, f"--{edge}"]}
    port = free_tcp_port()
    configs = opcua_gateways(
        scenario,
        folder,
        port,
        sampling_interval_ms=0.0,
        publishing_interval_ms=200.0,
        queue_size=1000,
    )
    gateways = {f"gateway-{site}": ["gateway", "run", str(p)] for site, p in configs.items()}
    return {**gateways, "sim": [*sim, "--opcua", "--opcua-port", str(port)]}
