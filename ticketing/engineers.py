"""Engineers: skills, places, shifts, load."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from ticketing.errors import NotFound
from ticketing.lifecycle import T_OPEN
from ticketing.store import Actor, Row, Tx

LOAD = f"(select count(*)::int from tickets t where t.engineer_id = e.id and {T_OPEN}) as load"


def _values(data: dict[str, Any]) -> dict[str, Any]:
    if "shifts" in data and data["shifts"] is not None:
        data = {**data, "shifts": Jsonb(data["shifts"])}
    return data


def get(tx: Tx, engineer_id: int) -> Row:
    row = tx.one(f"select e.*, {LOAD} from engineers e where e.id = %s", (engineer_id,))
    if row is None:
        raise NotFound("engineer", engineer_id)
    return row


def listing(tx: Tx) -> list[Row]:
    return tx.all(f"select e.*, {LOAD} from engineers e order by e.id")


def create(tx: Tx, actor: Actor, data: dict[str, Any]) -> Row:
    values = _values(data)
    row = tx.one(
        sql.SQL("insert into engineers ({}) values ({}) returning id").format(
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder(k) for k in values),
        ),
        values,
    )
    assert row is not None
    tx.audit(actor, "engineer_created", "engineer", row["id"], None, data)
    return get(tx, row["id"])


NULLABLE = frozenset({"email", "home_lat", "home_lon"})


def patch(tx: Tx, actor: Actor, engineer_id: int, data: dict[str, Any]) -> Row:
    """Change the given fields; ``null`` clears a nullable one and leaves the others as is."""
    data = {k: v for k, v in data.items() if v is not None or k in NULLABLE}
    before = get(tx, engineer_id)
    changes = {k: v for k, v in data.items() if before.get(k) != v}
    if not changes:
        return before
    values = _values(changes)
    tx.conn.execute(
        sql.SQL("update engineers set {} where id = {}").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
            ),
            sql.Literal(engineer_id),
        ),
        values,
    )
    tx.audit(
        actor, "engineer_updated", "engineer", engineer_id, {k: before[k] for k in changes}, changes
    )
    return get(tx, engineer_id)
