"""Demo seed: engineers across zones and skills, and tokens printed once, for ``forewarn demo``."""

from __future__ import annotations

import functools
from typing import Any

from forewarn import db as fdb
from ticketing import engineers
from ticketing.auth import audited, create_token
from ticketing.store import Actor

DEMO = Actor("demo-seed", "admin")

ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]
DAY = [{"days": [0, 1, 2, 3, 4], "start": "06:00", "end": "18:00"}]
# The simulator's demo fleet (device_sim/scenarios/default.yaml): sites north (Hamburg) and
# south (Munich), these asset classes and degradation modes.
CLASSES = ["centrifugal_pump", "electric_motor", "air_compressor", "chiller"]
ENGINEERS: list[dict[str, Any]] = [
    {
        "name": "Ada Pumps",
        "asset_classes": ["centrifugal_pump", "electric_motor"],
        "fault_modes": ["bearing_wear", "seal_leak", "cavitation"],
        "zones": ["north"],
        "home_lat": 53.57,
        "home_lon": 10.02,
        "shifts": ALL_DAY,
    },
    {
        "name": "Bo Compressors",
        "asset_classes": ["air_compressor", "chiller"],
        "fault_modes": ["clogged_filter", "bearing_wear"],
        "zones": ["south"],
        "home_lat": 48.15,
        "home_lon": 11.50,
        "shifts": ALL_DAY,
    },
    {
        "name": "Cy Electrics",
        "asset_classes": ["electric_motor", "air_compressor"],
        "fault_modes": ["winding_insulation"],
        "zones": ["north", "south"],
        "home_lat": 51.0,
        "home_lon": 10.5,
        "shifts": DAY,
        "on_call": True,
    },
    {
        "name": "Di Generalist",
        "asset_classes": CLASSES,
        "fault_modes": [],
        "zones": ["south"],
        "home_lat": 48.10,
        "home_lon": 11.60,
        "shifts": ALL_DAY,
    },
    {
        "name": "Ed Supervisor",
        "asset_classes": CLASSES,
        "fault_modes": [],
        "zones": [],
        "home_lat": 50.9,
        "home_lon": 10.8,
        "shifts": DAY,
        "supervisor": True,
        "max_load": 50,
    },
]


def seed(dsn: str, *, people: bool = False) -> list[tuple[str, str, str]]:
    """Create the demo engineers once, and fresh tokens each run: (name, role, token).
    ``people``: also the disabled channels and the on-call rotation (``--demo-seed`` sets
    it; off for tests that seed into a shared database, where a catch-all rotation would
    page for every other test's breached ticket)."""
    out = []
    with fdb.connect(dsn, autocommit=True) as conn:
        ids = {}
        for e in ENGINEERS:
            row = conn.execute("select id from engineers where name = %s", (e["name"],)).fetchone()
            if row is None:  # created like any engineer: audited
                made = audited(conn, functools.partial(engineers.create, actor=DEMO, data=dict(e)))
                ids[e["name"]] = int(made["id"])
            else:
                ids[e["name"]] = int(row[0])
        for name, role in (
            ("demo-admin", "admin"),
            ("demo-dispatcher", "dispatcher"),
            ("demo-detectors", "integration"),
        ):
            out.append((name, role, create_token(conn, name, role, actor=DEMO)[1]))
        from ticketing.cmms.demo import seed_maintenance

        audited(conn, functools.partial(seed_maintenance, actor=DEMO))
        if people:
            from ticketing.notifications.demo import seed_people

            on_call = [ids[e["name"]] for e in ENGINEERS if not e.get("supervisor")]
            boss = next(ids[e["name"]] for e in ENGINEERS if e.get("supervisor"))
            audited(
                conn, functools.partial(seed_people, actor=DEMO, members=on_call, supervisor=boss)
            )
        first = ENGINEERS[0]["name"]
        token = create_token(conn, f"demo-{first}", "engineer", ids[first], actor=DEMO)[1]
        out.append((first, "engineer", token))
    return out
