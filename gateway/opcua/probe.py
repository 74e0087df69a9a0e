"""``forewarn gateway check --probe`` for OPC UA servers: read every mapped node once."""

from __future__ import annotations

from asyncua import ua

from gateway.opcua.config import OpcuaServer
from gateway.opcua.session import OpcuaFailure, bind, close, connect, describe, number

Row = tuple[str, str, str, str, str]  # (device, point, value, unit, error)


async def probe(server: OpcuaServer) -> list[Row]:
    """One row per node of every node map: its engineering value, or why it has none."""
    try:
        client = await connect(server)
    except OpcuaFailure as exc:
        return [(server.id, "-", "", "", str(exc))]
    rows: list[Row] = []
    try:
        bound, problems = await bind(client, server.assets)
        for p in problems:
            asset, metric, rest = p.split(" ", 2)
            rows.append((server.id, f"{asset} {metric}", "", "", rest))
        if bound:
            results = await client.read_attributes([b.node for b in bound], ua.AttributeIds.Value)
            for b, dv in zip(bound, results, strict=True):
                point = f"{b.asset.asset} {b.spec.metric}"
                unit = b.spec.unit or ""
                if dv.StatusCode is not None and not dv.StatusCode.is_good():
                    rows.append((server.id, point, "", unit, dv.StatusCode.name))
                    continue
                raw = dv.Value.Value if dv.Value is not None else None
                value = number(raw)
                if value is None:
                    rows.append((server.id, point, str(raw), unit, "not a number"))
                else:
                    rows.append((server.id, point, f"{b.spec.engineering(value):.6g}", unit, ""))
    except (OSError, TimeoutError, ua.UaError) as exc:
        rows.append((server.id, "-", "", "", f"{server.url}: {describe(exc)}"))
    finally:
        await close(client)
    return rows
