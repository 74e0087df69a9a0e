"""Serve the fleet as an OPC UA server (asyncua), like a SCADA server over the plants.

One server for the whole fleet (an asyncua server takes seconds to load the standard
address space, so one per device would not scale): one object per asset under Objects, and one Double variable per
metric, browse name = metric name, node id ``ns=<sim>;s=<asset>.<metric>`` in the
namespace ``urn:forewarn:sim``. Every step writes the new values with the simulated time
as source timestamp (so subscriptions see each sample, stamped when it was "measured");
an asset whose site has lost power gets ``BadCommunicationError`` instead of a value.

``nodemap(asset_class)`` is the node map a gateway reads these servers with (browse paths
relative to the asset's object), and ``gateway_config(site, ...)`` a ready gateway config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml
from asyncua import Server, ua

from device_sim.engine import Fleet, Frame

NAMESPACE = "urn:forewarn:sim"
log = logging.getLogger("forewarn.sim.opcua")
logging.getLogger("asyncua").setLevel(logging.WARNING)


def nodemap(asset_class: str, metrics: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The node map of a simulated asset class (browse names = metric names)."""
    return {
        "nodemap": f"forewarn_sim_{asset_class}",
        "asset_class": asset_class,
        "vendor": "Forewarn simulator",
        "namespace": NAMESPACE,
        "nodes": [{"metric": m, "browse_path": [m]} for m in metrics],
    }


class OpcuaFleet:
    """OPC UA servers for a fleet; ``await start()``, call it with each frame, ``await stop()``."""

    def __init__(self, fleet: Fleet, *, host: str = "127.0.0.1", port: int = 4840) -> None:
        self.fleet, self.host, self.port = fleet, host, port
        self.sites = sorted({a.site for a in fleet.assets})
        self.server = Server()
        self._nodes: dict[str, list[list[ua.NodeId]]] = {}  # class -> [asset][metric]
        self._frame: Frame | None = None
        self._dirty = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/forewarn/"

    async def start(self) -> None:
        server = self.server
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("Forewarn fleet simulator")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NAMESPACE)
        for cls, group in self.fleet.groups.items():
            rows = []
            for a in group.assets:
                obj = await server.nodes.objects.add_object(
                    ua.NodeId(ua.String(a.id), ua.Int16(idx)), ua.QualifiedName(a.id, idx)
                )
                row = []
                for m in group.metrics:
                    var = await obj.add_variable(
                        ua.NodeId(ua.String(f"{a.id}.{m}"), ua.Int16(idx)),
                        ua.QualifiedName(m, idx),
                        0.0,
                    )
                    row.append(var.nodeid)
                rows.append(row)
            self._nodes[cls] = rows
        await server.start()
        self._writer = asyncio.create_task(self._write_loop(), name="opcua-sim-writer")

    def __call__(self, frame: Frame) -> None:
        """Runner sink: keep the newest frame; the writer task publishes it."""
        self._frame = frame
        self._dirty.set()

    async def _write_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            frame = self._frame
            if frame is not None:
                await self.write(frame)

    async def write(self, frame: Frame) -> None:
        """Write one frame's values to every variable (source timestamp = simulated time)."""
        ts = cast(ua.DateTime, frame.ts.replace(tzinfo=None))  # naive = UTC in asyncua
        for cls, values in frame.values.items():
            online = frame.online[cls]
            for i, row in enumerate(self._nodes[cls]):
                for j, nodeid in enumerate(row):
                    v = float(values[i, j])
                    if online[i] and np.isfinite(v):
                        dv = ua.DataValue(
                            ua.Variant(v, ua.VariantType.Double),
                            SourceTimestamp=ts,
                            ServerTimestamp=ts,
                        )
                    else:
                        dv = ua.DataValue(
                            StatusCode=ua.StatusCode(
                                ua.UInt32(ua.StatusCodes.BadCommunicationError)
                            ),
                            SourceTimestamp=ts,
                        )
                    await self.server.write_attribute_value(nodeid, dv)
                    self.writes += 1

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        with contextlib.suppress(Exception):
            await self.server.stop()

    def nodemaps(self) -> dict[str, dict[str, Any]]:
        return {cls: nodemap(cls, g.metrics) for cls, g in self.fleet.groups.items()}

    def gateway_config(
        self, site: str, gateway: str, nodemap_dir: Path, **server: Any
    ) -> dict[str, Any]:
        """A gateway config reading this site's server (node maps in ``nodemap_dir``)."""
        assets = [
            {
                "asset": a.id,
                "nodemap": str(nodemap_dir / f"{a.asset_class}.yaml"),
                "path": [a.id],
            }
            for a in self.fleet.assets
            if a.site == site
        ]
        entry = {"id": f"sim-{site}", "url": self.url, **server, "assets": assets}
        return {"gateway": gateway, "site": site, "opcua": [entry]}

    def write_configs(self, folder: Path, **server: Any) -> list[Path]:
        """Node maps in ``folder/nodemaps/`` and one gateway config per site."""
        maps = folder / "nodemaps"
        maps.mkdir(parents=True, exist_ok=True)
        for cls, doc in self.nodemaps().items():
            (maps / f"{cls}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        out = []
        for site in self.sites:
            path = folder / f"{site}.yaml"
            cfg = self.gateway_config(site, f"gw-{site}-ua", maps.resolve(), **server)
            path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            out.append(path)
        return out
