"""The demo's asset register: the simulator's default fleet (device_sim/scenarios/default.yaml)
as a complete hierarchy with coordinates, so the map and distance routing work at once.

Only missing or still-``draft`` assets are written: what a team edited stays as it is.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ticketing.cmms import assets as A
from ticketing.store import Actor, Tx

SITES = {"north": ("North plant", 53.55, 9.99), "south": ("South plant", 48.14, 11.58)}
# class: (abbreviation, vendor, model, counts per site, line)
FLEET = {
    "centrifugal_pump": ("P", "Acme", "CP-200", {"north": 8, "south": 8}, "water"),
    "electric_motor": ("M", "Voltra", "EM-55", {"north": 4, "south": 5}, "drives"),
    "air_compressor": ("C", "Boreas", "AC-30", {"north": 3, "south": 3}, "air"),
    "chiller": ("CH", "Polar", "PC-120", {"north": 2, "south": 3}, "cooling"),
}
CRITICAL_A = {"north-P003", "south-C002", "north-M002"}


def rows() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for site, (name, lat, lon) in SITES.items():
        out.append(
            {"asset": site, "site": site, "name": name, "level": "site", "lat": lat, "lon": lon}
        )
        for line_no, (cls, (abbr, vendor, model, counts, line)) in enumerate(FLEET.items()):
            line_id = f"{site}-{line}"
            out.append(
                {
                    "asset": line_id,
                    "site": site,
                    "parent": site,
                    "level": "line",
                    "name": f"{name}, {line} line",
                    "lat": lat,
                    "lon": lon,
                }
            )
            for k in range(1, counts[site] + 1):
                asset = f"{site}-{abbr}{k:03d}"
                out.append(
                    {
                        "asset": asset,
                        "site": site,
                        "parent": line_id,
                        "level": "machine",
                        "asset_class": cls,
                        "vendor": vendor,
                        "model": model,
                        "serial": f"{abbr}-{site[0].upper()}{k:05d}",
                        "criticality": "A" if asset in CRITICAL_A else ("B" if k % 3 else "C"),
                        # machines on a grid around the plant, ~100 m apart
                        "lat": round(lat + 0.0009 * line_no, 6),
                        "lon": round(lon + 0.0012 * k, 6),
                        "commissioned_on": f"20{18 + k % 6}-0{1 + line_no}-15",
                        "documents": [
                            {
                                "title": f"{vendor} {model} manual",
                                "url": f"https://docs.example.com/{vendor.lower()}/{model}.pdf",
                            }
                        ],
                    }
                )
    for r in out:
        r["status"] = "active"
    return out


def seed_register(tx: Tx, actor: Actor) -> dict[str, int]:
    keep = {r["asset"] for r in tx.all("select asset from assets where status <> 'draft'")}
    todo = [{"line": i + 2, **r} for i, r in enumerate(rows()) if r["asset"] not in keep]
    # Lines and sites already kept still count as known parents.
    return A.import_rows(tx, actor, todo) if todo else {"created": 0, "updated": 0}


def seed_plans(tx: Tx, actor: Actor) -> None:
    """Calendar plans (some due at once) and running-hour plans that come due as the
    simulated fleet runs (the demo runs an hour a minute: 24 h of running ≈ 24 min)."""
    from ticketing.cmms import pm

    if tx.one("select 1 from pm_plans where name like 'Demo:%%' limit 1"):
        return
    for k, asset in enumerate(("north-P001", "north-P002", "south-P001", "south-CH001")):
        pm.create_plan(
            tx,
            actor,
            {
                "name": "Demo: monthly inspection",
                "asset": asset,
                "every_days": 30,
                "lead_days": 7,
                "start_at": tx.now + timedelta(days=3 * k),
            },
        )
    for asset in ("north-C001", "south-C001", "north-M001"):
        pm.create_plan(
            tx,
            actor,
            {
                "name": "Demo: oil and filter every 24 running hours",
                "asset": asset,
                "meter": "running_hours",
                "every_meter": 24.0,
                "anchor": "floating",
            },
        )


# fault mode: (job plan, minutes, skills, steps, parts as (sku, name, cost, qty, stock))
JOBS: dict[
    str, tuple[str, int, list[str], list[tuple[str, str]], list[tuple[str, str, float, int, int]]]
] = {
    "bearing_wear": (
        "Replace drive-end bearing",
        120,
        ["bearing_wear"],
        [
            ("Lock out and tag out the drive", "pass_fail"),
            ("Replace the drive-end bearing", "pass_fail"),
            ("Check shaft alignment", "pass_fail"),
            ("Vibration after restart (mm/s RMS)", "reading"),
        ],
        [("BRG-6309", "Deep-groove ball bearing 6309", 48.0, 2, 6)],
    ),
    "clogged_filter": (
        "Change intake filter",
        45,
        ["air_compressor"],
        [
            ("Isolate and depressurise", "pass_fail"),
            ("Fit new filter element", "pass_fail"),
            ("Differential pressure after (mbar)", "reading"),
        ],
        [("FLT-AC30", "Intake filter element AC-30", 35.0, 1, 4)],
    ),
    "cavitation": (
        "Inspect impeller and suction side",
        90,
        ["cavitation"],
        [
            ("Check suction strainer", "pass_fail"),
            ("Inspect impeller for pitting", "pass_fail"),
            ("Suction pressure after (bar)", "reading"),
        ],
        [("GSK-CP200", "Casing gasket CP-200", 9.5, 1, 10)],
    ),
    "winding_insulation": (
        "Insulation test and rewind decision",
        180,
        ["winding_insulation"],
        [
            ("Megger test phase to earth (MOhm)", "reading"),
            ("Polarisation index", "reading"),
            ("Clean and dry the windings", "pass_fail"),
        ],
        [],
    ),
}


def seed_jobs(tx: Tx, actor: Actor) -> None:
    """Job plans per fault mode, their parts, and stock in a store per plant."""
    from ticketing.cmms import jobs, parts

    for fault, (name, minutes, skills, steps, plist) in JOBS.items():
        if jobs.for_fault(tx, fault) is not None:
            continue
        part_rows = []
        for sku, pname, cost, qty, stock in plist:
            got = tx.one("select id from parts where sku = %s", (sku,))
            if got is None:
                got = parts.create_part(tx, actor, {"sku": sku, "name": pname, "unit_cost": cost})
                for site in SITES:
                    parts.set_stock(
                        tx,
                        actor,
                        got["id"],
                        f"{site}-store",
                        {"on_hand": stock, "site": site, "reorder_point": 2},
                    )
            part_rows.append({"part_id": got["id"], "qty": qty})
        jobs.create(
            tx,
            actor,
            {
                "name": name,
                "fault_mode": fault,
                "skills": skills,
                "est_minutes": minutes,
                "steps": [{"text": t, "kind": k} for t, k in steps],
                "parts": part_rows,
            },
        )


def seed_maintenance(tx: Tx, actor: Actor) -> None:
    """Everything the demo needs for maintenance work: register, job plans, parts, PM."""
    seed_register(tx, actor)
    seed_jobs(tx, actor)
    seed_plans(tx, actor)
