"""Demo seed: engineers across zones and skills, and tokens printed once, for ``forewarn demo``."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from forewarn import db as fdb
from ticketing.auth import create_token

ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]
DAY = [{"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "19:00"}]
CLASSES = ["centrifugal_pump", "motor", "air_compressor", "chiller"]
ENGINEERS: list[dict[str, Any]] = [
    {
        "name": "Ada Pumps",
        "asset_classes": ["centrifugal_pump", "motor"],
        "fault_modes": ["bearing_wear", "seal_leak", "cavitation"],
        "zones": ["site-a", "plant-1"],
        "home_lat": 52.37,
        "home_lon": 4.90,
        "shifts": ALL_DAY,
    },
    {
        "name": "Bo Compressors",
        "asset_classes": ["air_compressor", "chiller"],
        "fault_modes": ["clogged_filter", "bearing_wear"],
        "zones": ["site-b", "plant-2"],
        "home_lat": 51.92,
        "home_lon": 4.48,
        "shifts": ALL_DAY,
    },
    {
        "name": "Cy Electrics",
        "asset_classes": ["motor", "air_compressor"],
        "fault_modes": ["winding_insulation"],
        "zones": ["site-a", "site-b", "plant-1"],
        "home_lat": 52.09,
        "home_lon": 5.12,
        "shifts": DAY,
        "on_call": True,
    },
    {
        "name": "Di Generalist",
        "asset_classes": CLASSES,
        "fault_modes": [],
        "zones": ["site-c", "plant-3"],
        "home_lat": 51.44,
        "home_lon": 5.47,
        "shifts": ALL_DAY,
    },
    {
        "name": "Ed Supervisor",
        "asset_classes": CLASSES,
        "fault_modes": [],
        "zones": [],
        "home_lat": 52.0,
        "home_lon": 4.7,
        "shifts": DAY,
        "supervisor": True,
        "max_load": 50,
    },
]


def seed(dsn: str) -> list[tuple[str, str, str]]:
    """Create the demo engineers once, and fresh tokens each run: (name, role, token)."""
    out = []
    with fdb.connect(dsn, autocommit=True) as conn:
        ids = {}
        for e in ENGINEERS:
            row = conn.execute("select id from engineers where name = %s", (e["name"],)).fetchone()
            if row is None:
                cols = list(e)
                vals = [Jsonb(v) if k == "shifts" else v for k, v in e.items()]
                row = conn.execute(
                    f"insert into engineers ({', '.join(cols)}) values"
                    f" ({', '.join(['%s'] * len(cols))}) returning id",
                    vals,
                ).fetchone()
            assert row is not None
            ids[e["name"]] = row[0]
        for name, role in (
            ("demo-admin", "admin"),
            ("demo-dispatcher", "dispatcher"),
            ("demo-detectors", "integration"),
        ):
            out.append((name, role, create_token(conn, name, role)[1]))
        first = ENGINEERS[0]["name"]
        out.append(
            (first, "engineer", create_token(conn, f"demo-{first}", "engineer", ids[first])[1])
        )
    return out
