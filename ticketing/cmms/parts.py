"""Spare parts: catalogue, stock per store, reservations for tickets, issue on completion.

Stock is taken with one conditional UPDATE (``... where on_hand - reserved >= qty``), and
the table's CHECK (reserved <= on_hand) backs it: concurrent reservations of the last parts
can never over-commit, whatever the interleaving. Stores at the ticket's site are tried
first. Falling to the reorder point emits ``stock.low`` (the contract's ``StockLow``: webhooks,
notifications, MQTT ``forewarn/v1/{site}/stock/low``) once until the stock is refilled.
"""

from __future__ import annotations

from typing import Any

from forewarn.contract import topics
from ticketing.errors import Conflict, Invalid, NotFound
from ticketing.store import Actor, Row, Tx


def create_part(tx: Tx, actor: Actor, data: dict[str, Any]) -> Row:
    if tx.one("select 1 from parts where sku = %s", (data["sku"],)):
        raise Conflict(f"sku: part {data['sku']!r} already exists", field="sku")
    row = tx.one(
        "insert into parts (sku, name, unit_cost, created_at) values (%s, %s, %s, %s) returning *",
        (data["sku"], data["name"], data.get("unit_cost", 0), tx.now),
    )
    assert row is not None
    tx.audit(actor, "part_created", "part", row["id"], None, data)
    return get_part(tx, row["id"])


def get_part(tx: Tx, part_id: int) -> Row:
    row = tx.one("select * from parts where id = %s", (part_id,))
    if row is None:
        raise NotFound("part", part_id)
    stock = tx.all(
        "select store, site, on_hand, reserved, on_hand - reserved as available, reorder_point"
        " from stock where part_id = %s order by store",
        (part_id,),
    )
    return {**row, "unit_cost": float(row["unit_cost"]), "stock": stock}


def listing(tx: Tx) -> list[Row]:
    return [get_part(tx, r["id"]) for r in tx.all("select id from parts order by sku")]


def set_stock(tx: Tx, actor: Actor, part_id: int, store: str, data: dict[str, Any]) -> Row:
    """Count or refill a store: sets on_hand (never below what is reserved)."""
    get_part(tx, part_id)
    old = tx.one(
        "select * from stock where part_id = %s and store = %s for update", (part_id, store)
    )
    reserved = int(old["reserved"]) if old else 0
    on_hand = int(data["on_hand"] if "on_hand" in data else (old["on_hand"] if old else 0))
    if on_hand < reserved:
        raise Invalid(
            f"on_hand: {reserved} of part {part_id} are reserved in {store}; on_hand may not"
            f" go below that",
            field="on_hand",
        )
    site = data.get("site", old["site"] if old else None)
    point = data.get("reorder_point", old["reorder_point"] if old else 0)
    tx.conn.execute(
        "insert into stock (part_id, store, site, on_hand, reorder_point) values"
        " (%s, %s, %s, %s, %s) on conflict (part_id, store) do update set site = excluded.site,"
        " on_hand = excluded.on_hand, reorder_point = excluded.reorder_point,"
        " low_since = case when excluded.on_hand - stock.reserved > excluded.reorder_point"
        " then null else stock.low_since end",
        (part_id, store, site, on_hand, point),
    )
    after = {"store": store, "site": site, "on_hand": on_hand, "reorder_point": point}
    before = {k: old[k] for k in after} if old else None
    tx.audit(actor, "stock_set", "part", part_id, before, after)
    _check_low(tx, actor, part_id, store)
    return get_part(tx, part_id)


def _check_low(tx: Tx, actor: Actor, part_id: int, store: str) -> None:
    low = tx.one(
        "update stock set low_since = %s where part_id = %s and store = %s and low_since is null"
        " and on_hand - reserved <= reorder_point returning site, on_hand, reserved,"
        " reorder_point",
        (tx.now, part_id, store),
    )
    if low is None:
        return
    part = tx.one("select sku, name from parts where id = %s", (part_id,))
    assert part is not None  # the caller has just read or locked it
    payload = {  # the contract's StockLow (Tx.emit validates it)
        "part_id": part_id,
        "sku": part["sku"],
        "name": part["name"],
        "store": store,
        "site": low["site"],
        "available": low["on_hand"] - low["reserved"],
        "reorder_point": low["reorder_point"],
    }
    tx.audit(actor, "stock_low", "part", part_id, None, payload)
    tx.emit("stock.low", low["site"] or topics.ALL_SITES, None, payload)


def reserve(tx: Tx, actor: Actor, ticket: Row, part_id: int, qty: int, *, allow_short: bool) -> Row:
    """Take ``qty`` from one store (the ticket's site first). Short: a 409 naming ``qty``,
    or, for a job plan being attached, a ``short`` reservation the dispatcher sees."""
    get_part(tx, part_id)
    # a site-scoped token takes only from its sites' stores (or shared ones, site null)
    scope = list(actor.sites) if actor.sites is not None else None
    got = tx.one(
        "update stock s set reserved = s.reserved + %(q)s from (select store from stock"
        " where part_id = %(p)s and on_hand - reserved >= %(q)s and (%(scope)s::text[] is null"
        " or site is null or site = any(%(scope)s)) order by site is distinct"
        " from %(site)s, on_hand - reserved desc, store limit 1) pick where s.part_id = %(p)s"
        " and s.store = pick.store and s.on_hand - s.reserved >= %(q)s returning s.store",
        {"q": qty, "p": part_id, "site": ticket["site"], "scope": scope},
    )
    if got is None and not allow_short:
        available = tx.one(
            "select coalesce(max(on_hand - reserved), 0) as n from stock where part_id = %s",
            (part_id,),
        )
        n = available["n"] if available else 0
        raise Conflict(
            f"qty: {qty} of part {part_id} requested, at most {n} available in one store",
            field="qty",
            available=n,
        )
    state = "reserved" if got else "short"
    row = tx.one(
        "insert into reservations (ticket_id, part_id, store, qty, state, created_at,"
        " updated_at) values (%s, %s, %s, %s, %s, %s, %s) returning *",
        (ticket["id"], part_id, got["store"] if got else None, qty, state, tx.now, tx.now),
    )
    assert row is not None
    tx.audit(  # stock movements are the part's history (the ticket is named in them)
        actor,
        f"part_{state}",
        "part",
        part_id,
        None,
        {"reservation": row["id"], "ticket_id": ticket["id"], "qty": qty, "store": row["store"]},
    )
    if got:
        _check_low(tx, actor, part_id, got["store"])
    return row


def for_ticket(tx: Tx, ticket_id: int) -> list[Row]:
    rows = tx.all(
        "select r.*, p.sku, p.name, p.unit_cost from reservations r join parts p on"
        " p.id = r.part_id where r.ticket_id = %s order by r.id",
        (ticket_id,),
    )
    return [{**r, "unit_cost": float(r["unit_cost"])} for r in rows]


def issue(tx: Tx, actor: Actor, ticket: Row) -> None:
    """On completion: reserved parts leave the store (on_hand and reserved both drop)."""
    for r in tx.all(
        "select * from reservations where ticket_id = %s and state = 'reserved' for update",
        (ticket["id"],),
    ):
        tx.conn.execute(
            "update stock set on_hand = on_hand - %s, reserved = reserved - %s"
            " where part_id = %s and store = %s",
            (r["qty"], r["qty"], r["part_id"], r["store"]),
        )
        tx.conn.execute(
            "update reservations set state = 'issued', updated_at = %s where id = %s",
            (tx.now, r["id"]),
        )
        tx.audit(
            actor,
            "part_issued",
            "part",
            r["part_id"],
            None,
            {
                "reservation": r["id"],
                "ticket_id": ticket["id"],
                "qty": r["qty"],
                "store": r["store"],
            },
        )
        _check_low(tx, actor, r["part_id"], r["store"])


def release(tx: Tx, actor: Actor, ticket: Row) -> None:
    """Give back what a ticket holds (job plan swapped, ticket cancelled)."""
    for r in tx.all(
        "select * from reservations where ticket_id = %s and state in ('reserved', 'short')"
        " for update",
        (ticket["id"],),
    ):
        if r["state"] == "reserved":
            tx.conn.execute(
                "update stock set reserved = reserved - %s where part_id = %s and store = %s",
                (r["qty"], r["part_id"], r["store"]),
            )
        tx.conn.execute(
            "update reservations set state = 'released', updated_at = %s where id = %s",
            (tx.now, r["id"]),
        )
        tx.audit(
            actor,
            "part_released",
            "part",
            r["part_id"],
            None,
            {"reservation": r["id"], "ticket_id": ticket["id"], "qty": r["qty"]},
        )
