"""The ingest writer plus Sparkplug's extras (string events, birth certificates).

Rows, dead letters and the asset registry are the base writer's, unchanged; the extras go
in the same transaction, so one commit (and then one acknowledgement) covers a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ingest.sparkplug.model import Birth, SpAccepted
from ingest.validate import Accepted, Rejected
from ingest.writer import Outcome, Writer

INSERT_EVENTS = """
INSERT INTO device_events (time, asset, name, value, historical)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::boolean[])
ON CONFLICT DO NOTHING
"""
UPSERT_BIRTHS = """
INSERT INTO sparkplug_births (group_id, edge, device, payload)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[])
ON CONFLICT (group_id, edge, device) DO UPDATE
SET payload = excluded.payload, received_at = now()
"""


class SparkplugWriter(Writer):
    """``Writer`` that also stores ``SpAccepted.events`` and ``.births``."""

    def _commit(
        self, conn: psycopg.Connection[Any], items: Sequence[Accepted | Rejected]
    ) -> tuple[Outcome, list[Rejected]]:
        extras = [i for i in items if isinstance(i, SpAccepted) and (i.events or i.births)]
        if not extras:
            return super()._commit(conn, items)
        with conn.transaction():
            out, dead = super()._commit(conn, items)  # a savepoint inside this transaction
            refused = {(r.topic, id(r.payload)) for r in dead}
            kept = [i for i in extras if (i.topic, id(i.payload)) not in refused]
            events = [e for i in kept for e in i.events]
            if events:
                conn.execute(INSERT_EVENTS, [list(col) for col in zip(*events, strict=True)])
            births: dict[tuple[str, str, str], Birth] = {}
            for i in kept:  # the newest birth of a node or device wins
                births.update({b[:3]: b for b in i.births})
            if births:
                rows = [births[k] for k in sorted(births)]
                conn.execute(UPSERT_BIRTHS, [list(col) for col in zip(*rows, strict=True)])
        return out, dead

    def _assets(self, conn: psycopg.Connection[Any], accepted: list[Accepted]) -> None:
        # A message with only events or a birth registers nothing.
        with_rows = [a for a in accepted if a.rows or not isinstance(a, SpAccepted)]
        if with_rows:
            super()._assets(conn, with_rows)

    def _mark(self, conn: psycopg.Connection[Any], accepted: list[Accepted]) -> None:  # type: ignore[override]
        with_rows = [a for a in accepted if a.rows]
        if with_rows:
            Writer._mark(conn, with_rows)

    def births(self) -> list[Birth]:
        """Every stored birth certificate (to restore alias tables at start)."""
        conn = self.connect()
        with conn.transaction():
            rows = conn.execute(
                "SELECT group_id, edge, device, payload FROM sparkplug_births"
            ).fetchall()
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]
