"""Gateway configs from a device map (the simulator's ``--device-map`` JSON, or any list
of ``{asset, site, profile, host, port, unit_id}``), so a fleet needs no hand-written YAML."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from forewarn.contract.topics import check_id


def config_from_map(
    entries: Iterable[Mapping[str, Any]],
    *,
    gateway: str,
    site: str,
    poll_period_s: float | None = None,
    buffer_path: str | None = None,
) -> dict[str, Any]:
    """A gateway config (as a YAML-ready dict) for the entries of one site."""
    check_id(gateway, "gateway")
    check_id(site, "site")
    devices = []
    for e in entries:
        if e.get("site", site) != site:
            continue
        device: dict[str, Any] = {
            "id": f"{e['asset']}",
            "host": e["host"],
            "port": int(e["port"]),
            "unit_id": int(e["unit_id"]),
            "profile": e["profile"],
            "asset": e["asset"],
        }
        if e.get("asset_class"):
            device["asset_class"] = e["asset_class"]
        if poll_period_s is not None:
            device["poll_period_s"] = poll_period_s
        devices.append(device)
    config: dict[str, Any] = {"gateway": gateway, "site": site, "devices": devices}
    if buffer_path:
        config["buffer"] = {"path": buffer_path}
    return config
