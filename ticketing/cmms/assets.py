"""The asset register: one row per asset in the hierarchy site → line → machine → component.

Ingest registers unknown assets as bare ``draft`` rows; the team completes them here (API,
console, CSV). Every change is audited (entity ``asset``). A CSV import is one transaction:
one bad row refuses the whole file, naming the row and the field.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from ticketing import lifecycle
from ticketing.cmms.schemas import AssetIn
from ticketing.errors import Conflict, Invalid, NotFound, TicketingError
from ticketing.store import Actor, Row, Tx

FIELDS = (
    "name",
    "parent",
    "level",
    "asset_class",
    "vendor",
    "model",
    "serial",
    "criticality",
    "lat",
    "lon",
    "documents",
    "commissioned_on",
    "status",
)
CSV_COLUMNS = ("asset", "site", *FIELDS)
COLUMNS = (
    "asset, site, name, parent, level, asset_class, vendor, model, serial, criticality, lat,"
    " lon, documents, commissioned_on, status, registered_at, last_seen, updated_at"
)
MAX_DEPTH = 16


class Unknown(TicketingError):
    """A field refers to an asset that is not in the register (404, naming the field)."""

    status = 404


def listing(tx: Tx, site: str | None = None, status: str | None = None) -> list[Row]:
    return tx.all(
        f"select {COLUMNS} from assets where (%(site)s::text is null or site = %(site)s)"
        " and (%(status)s::text is null or status = %(status)s) order by site, asset",
        {"site": site, "status": status},
    )


def get(tx: Tx, asset: str, *, lock: bool = False) -> Row:
    row = tx.one(
        f"select {COLUMNS} from assets where asset = %s" + (" for update" if lock else ""),
        (asset,),
    )
    if row is None:
        raise NotFound("asset", asset)
    return row


def _check_parent(tx: Tx, asset: str, parent: str | None, field: str = "parent") -> None:
    """The parent must exist and must not be the asset itself or below it (no cycles)."""
    if parent is None:
        return
    seen = parent
    for _ in range(MAX_DEPTH):
        row = tx.one("select parent from assets where asset = %s", (seen,))
        if row is None:
            raise Unknown(f"{field}: unknown asset {seen!r}", field=field, value=seen)
        if seen == asset:
            raise Conflict(f"{field}: {parent!r} is {asset!r} or below it", field=field)
        if row["parent"] is None:
            return
        seen = row["parent"]
    raise Invalid(f"{field}: hierarchy deeper than {MAX_DEPTH} levels", field=field)


def _db_values(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if "documents" in out:
        out["documents"] = Jsonb(out["documents"] or [])
    return out


def create(tx: Tx, actor: Actor, data: dict[str, Any]) -> Row:
    if tx.one("select 1 from assets where asset = %s", (data["asset"],)):
        raise Conflict(f"asset {data['asset']!r} already exists", field="asset")
    _check_parent(tx, data["asset"], data.get("parent"))
    values = {k: v for k, v in data.items() if v is not None}
    values.setdefault("status", "active")
    values["updated_at"] = tx.now
    names = list(values)
    tx.conn.execute(
        sql.SQL("insert into assets ({}) values ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder(n) for n in names),
        ),
        _db_values(values),
    )
    row = get(tx, data["asset"])
    tx.audit(actor, "asset_created", "asset", data["asset"], None, values)
    return row


def patch(tx: Tx, actor: Actor, asset: str, changes: dict[str, Any]) -> Row:
    """Set the given fields (``None`` clears an optional one); audited before/after."""
    row = get(tx, asset, lock=True)
    changes = {k: v for k, v in changes.items() if v != row.get(k)}
    if not changes:
        return row
    for required in ("site", "level", "criticality", "status"):
        if required in changes and changes[required] is None:
            del changes[required]  # these always have a value: null means "leave it"
    if not changes:
        return row
    if "parent" in changes:
        _check_parent(tx, asset, changes["parent"])
    values = {**changes, "updated_at": tx.now}
    tx.conn.execute(
        sql.SQL("update assets set {} where asset = {}").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
            ),
            sql.Literal(asset),
        ),
        _db_values(values),
    )
    tx.audit(actor, "asset_updated", "asset", asset, {k: row[k] for k in changes}, changes)
    return get(tx, asset)


# Every table whose foreign key holds an asset, but the meter bookkeeping deleted with it
# (a missed one surfaced as a 422 "refers to something unknown" instead of this 409).
REFERENCES = (
    ("tickets", "asset"),
    ("assets", "parent"),
    ("meter_readings", "asset"),
    ("pm_plans", "asset"),
    ("downtime", "asset"),
    ("asset_report_keys", "asset"),
)


def delete(tx: Tx, actor: Actor, asset: str) -> None:
    """Only an asset nothing refers to; otherwise retire it (status) instead."""
    row = get(tx, asset, lock=True)
    for table, col in REFERENCES:
        query = sql.SQL("select 1 from {} where {} = %s limit 1").format(
            sql.Identifier(table), sql.Identifier(col)
        )
        if tx.one(query, (asset,)):
            raise Conflict(
                f"asset {asset!r} is referenced by {table}; set status 'retired' instead",
                field="status",
            )
    tx.conn.execute("delete from meter_watermarks where asset = %s", (asset,))
    tx.conn.execute("delete from asset_meters where asset = %s", (asset,))
    tx.conn.execute("delete from assets where asset = %s", (asset,))
    tx.audit(actor, "asset_deleted", "asset", asset, {k: row[k] for k in CSV_COLUMNS}, None)


def priority_for(tx: Tx, asset: str, priority: str) -> str:
    """An A-critical asset raises a predictive ticket's priority one step."""
    row = tx.one("select criticality from assets where asset = %s", (asset,))
    if row is not None and row["criticality"] == "A":
        return lifecycle.raise_priority(priority)
    return priority


# --- CSV ---------------------------------------------------------------------------------


def export_csv(tx: Tx, site: str | None = None, sites: tuple[str, ...] | None = None) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in listing(tx, site):
        if sites is not None and row["site"] not in sites:
            continue  # a site-scoped token exports only its sites
        out = {k: row[k] for k in CSV_COLUMNS}
        out["documents"] = json.dumps(row["documents"]) if row["documents"] else ""
        out["commissioned_on"] = (
            row["commissioned_on"].isoformat() if row["commissioned_on"] else ""
        )
        writer.writerow({k: "" if v is None else v for k, v in out.items()})
    return buf.getvalue()


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Validate every row; the first bad one raises Invalid naming row (file line) and field."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = {"asset", "site"} - set(header)
    if missing:
        raise Invalid(f"header: missing column(s) {', '.join(sorted(missing))}", field="header")
    unknown = set(header) - set(CSV_COLUMNS)
    if unknown:
        raise Invalid(f"header: unknown column(s) {', '.join(sorted(unknown))}", field="header")
    rows: list[dict[str, Any]] = []
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            raise Invalid(f"row {line}: more cells than columns", row=line)
        cells: dict[str, Any] = {
            k: v.strip() for k, v in raw.items() if v is not None and v.strip()
        }
        if "documents" in cells:
            try:
                cells["documents"] = json.loads(cells["documents"])
            except json.JSONDecodeError:
                raise Invalid(
                    f"row {line}: documents: not a JSON list", row=line, field="documents"
                ) from None
        try:
            item = AssetIn.model_validate(cells)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"]) or "row"
            raise Invalid(f"row {line}: {field}: {err['msg']}", row=line, field=field) from None
        rows.append({"line": line, **item.model_dump(mode="json", exclude_unset=True)})
    return rows


def import_rows(tx: Tx, actor: Actor, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Upsert all rows in one transaction, parents first; any error leaves nothing written."""
    names = {r["asset"] for r in rows}
    seen: set[str] = set()
    for r in rows:
        if r["asset"] in seen:
            raise Invalid(f"row {r['line']}: asset: {r['asset']!r} appears twice", field="asset")
        seen.add(r["asset"])
        parent = r.get("parent")
        if (
            parent
            and parent not in names
            and not tx.one("select 1 from assets where asset = %s", (parent,))
        ):
            raise Invalid(
                f"row {r['line']}: parent: unknown asset {parent!r}",
                row=r["line"],
                field="parent",
            )
    pending = list(rows)
    created = updated = 0
    while pending:
        ready = [r for r in pending if not r.get("parent") or r["parent"] not in _names(pending)]
        if not ready:
            raise Invalid(
                f"row {pending[0]['line']}: parent: cycle in the hierarchy", field="parent"
            )
        for r in ready:
            data = {k: v for k, v in r.items() if k != "line"}
            try:
                exists = tx.one("select 1 from assets where asset = %s", (data["asset"],))
                if exists:
                    patch(tx, actor, data["asset"], {k: v for k, v in data.items() if k != "asset"})
                    updated += 1
                else:
                    create(tx, actor, data)
                    created += 1
            except TicketingError as exc:  # a bad file is a 422 whatever the row's fault
                raise Invalid(
                    f"row {r['line']}: {exc.message}", row=r["line"], **exc.data
                ) from None
        pending = [r for r in pending if r not in ready]
    return {"created": created, "updated": updated}


def _names(rows: list[dict[str, Any]]) -> set[str]:
    return {r["asset"] for r in rows}


# --- history -----------------------------------------------------------------------------


def history(tx: Tx, asset: str) -> dict[str, Any]:
    """What the asset page shows: the record, children, meters, tickets, anomalies, PM done."""
    row = get(tx, asset)
    return {
        "asset": row,
        "children": [
            r["asset"]
            for r in tx.all("select asset from assets where parent = %s order by asset", (asset,))
        ],
        "meters": tx.all(
            "select meter, value, updated_at from asset_meters where asset = %s order by meter",
            (asset,),
        ),
        "tickets": tx.all(
            "select id, source, priority, fault_mode, title, state, created_at, resolved_at"
            " from tickets where asset = %s order by created_at desc, id desc limit 100",
            (asset,),
        ),
        "anomalies": tx.all(
            "select time, detector, severity, score, fault_mode, state from anomalies"
            " where asset = %s order by time desc limit 50",
            (asset,),
        ),
        "pm_done": _pm_done(tx, asset),
    }


def _pm_done(tx: Tx, asset: str) -> list[Row]:
    exists = tx.one("select to_regclass('pm_occurrences') is not null as ok")
    if not exists or not exists["ok"]:
        return []
    return tx.all(
        "select o.plan_id, p.name as plan, o.due_at, t.id as ticket_id, t.resolved_at"
        " from pm_occurrences o join pm_plans p on p.id = o.plan_id"
        " join tickets t on t.id = o.ticket_id where p.asset = %s and t.resolved_at is not null"
        " order by t.resolved_at desc limit 50",
        (asset,),
    )
