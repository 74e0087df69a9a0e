"""On-call rotations and escalation chains (primary -> secondary -> supervisor).

A breach starts a chain from the rotation covering the ticket's site: the primary is paged
at once; while nobody acknowledges, :func:`advance_chains` pages the next person every
``ack_minutes``. Acknowledging (or the ticket being accepted or closed) stops the chain.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Any

from ticketing.errors import Forbidden, NotFound
from ticketing.notifications import outbox
from ticketing.store import SYSTEM, Actor, Row, Store, Tx

log = logging.getLogger("ticketing.notifications")


def rotation_for(tx: Tx, site: str) -> Row | None:
    return tx.one(
        "select * from oncall_rotations where site in (%s, '*') order by site = '*', id limit 1",
        (site,),
    )


def on_call(rotation: Row, now: Any) -> list[int]:
    """[primary, secondary, ...]: members in turn, starting with the one whose shift runs."""
    members: list[int] = list(rotation["members"])
    period = timedelta(hours=rotation["period_hours"])
    turn = int((now - rotation["handoff_at"]) // period) % len(members)
    return members[turn:] + members[:turn]


def _supervisor(tx: Tx, rotation: Row, site: str) -> int | None:
    if rotation["supervisor_id"] is not None:
        return int(rotation["supervisor_id"])
    row = tx.one(
        "select id from engineers where supervisor and available"
        " order by not (%s = any(zones)), id limit 1",
        (site,),
    )
    return int(row["id"]) if row else None


def ctx(tx: Tx, ticket: Row, public_url: str, **extra: Any) -> dict[str, Any]:
    link = f"{public_url}/console/tickets/{ticket['id']}"
    return {"t": ticket, "link": link, "ack_link": f"{public_url}/console/oncall", **extra}


def start_chain(tx: Tx, ticket: Row, reason: str, which: str, due: Any) -> int | None:
    """Page the on-call primary for ``ticket``; None when no rotation covers its site."""
    rotation = rotation_for(tx, ticket["site"])
    if rotation is None:
        return None
    people = on_call(rotation, tx.now)[:2]
    sup = _supervisor(tx, rotation, ticket["site"])
    if sup is not None:
        people.append(sup)
    chain = list(dict.fromkeys(people))  # a one-person rotation: primary then supervisor
    row = tx.one(
        "insert into escalation_chains (ticket_id, rotation_id, reason, chain, started_at,"
        " next_at) values (%s, %s, %s, %s, %s, %s) returning *",
        (
            ticket["id"],
            rotation["id"],
            reason,
            chain,
            tx.now,
            tx.now + timedelta(minutes=rotation["ack_minutes"]) if len(chain) > 1 else None,
        ),
    )
    assert row is not None
    _page(tx, row, ticket, rotation, 0, "breach", which=which, due=due)
    return int(row["id"])


def _page(
    tx: Tx, chain: Row, ticket: Row, rotation: Row, level: int, event: str, **extra: Any
) -> None:
    engineer_id = chain["chain"][level]
    c = ctx(
        tx,
        ticket,
        tx.options.public_url,
        chain=chain["id"],
        ack_minutes=rotation["ack_minutes"],
        **extra,
    )
    sent = outbox.to_engineer(
        tx, engineer_id, event, c, ticket_id=ticket["id"], chain_id=chain["id"]
    )
    tx.audit(
        SYSTEM,
        "oncall_paged",
        "ticket",
        ticket["id"],
        None,
        {"chain": chain["id"], "level": level, "engineer_id": engineer_id, "messages": sent},
    )


def _advance_one(tx: Tx, chain_id: int) -> bool:
    chain = tx.one(
        "select * from escalation_chains where id = %s and acknowledged_at is null"
        " and next_at <= %s for update skip locked",
        (chain_id, tx.now),
    )
    if chain is None:
        return False
    ticket = tx.one("select * from tickets where id = %s", (chain["ticket_id"],))
    rotation = tx.one("select * from oncall_rotations where id = %s", (chain["rotation_id"],))
    assert ticket is not None and rotation is not None
    level = chain["level"] + 1
    last = level >= len(chain["chain"]) - 1
    nxt = None if last else tx.now + timedelta(minutes=rotation["ack_minutes"])
    tx.conn.execute(
        "update escalation_chains set level = %s, next_at = %s where id = %s",
        (level, nxt, chain_id),
    )
    prev = tx.one("select name from engineers where id = %s", (chain["chain"][level - 1],))
    _page(tx, chain, ticket, rotation, level, "escalation", previous=prev["name"] if prev else None)
    return True


def advance_chains(store: Store) -> int:
    """Page the next person of every unacknowledged chain that is due (the scheduled job)."""
    due = store.read(
        lambda tx: tx.all(
            "select id from escalation_chains where acknowledged_at is null and next_at <= %s"
            " order by next_at, id limit 200",
            (tx.now,),
        )
    )
    done = 0
    for r in due:
        try:
            done += store.run(functools.partial(_advance_one, chain_id=r["id"]))
        except Exception:
            log.exception("escalation chain %s failed; it stays due", r["id"])
    return done


def acknowledge(tx: Tx, actor: Actor, chain_id: int) -> Row:
    """Stop the chain. An engineer must be in it; their acknowledgement is recorded by name."""
    chain = tx.one("select * from escalation_chains where id = %s for update", (chain_id,))
    if chain is None:
        raise NotFound("escalation chain", chain_id)
    if actor.role == "engineer" and actor.engineer_id not in chain["chain"]:
        raise Forbidden(f"escalation chain {chain_id} did not page you")
    if chain["acknowledged_at"] is not None:
        return chain
    return _stop(tx, actor, chain, "acknowledged")


def _stop(tx: Tx, actor: Actor, chain: Row, how: str) -> Row:
    new = tx.one(
        "update escalation_chains set acknowledged_at = %s, acknowledged_by = %s, next_at = null"
        " where id = %s returning *",
        (tx.now, actor.name, chain["id"]),
    )
    assert new is not None
    tx.audit(
        actor,
        "oncall_acknowledged",
        "ticket",
        chain["ticket_id"],
        None,
        {"chain": chain["id"], "level": chain["level"], "how": how},
    )
    return new


def stop_for_ticket(tx: Tx, actor: Actor, ticket_id: int, how: str) -> int:
    """Accepting or closing the ticket acknowledges its open chains."""
    rows = tx.all(
        "select * from escalation_chains where ticket_id = %s and acknowledged_at is null"
        " for update",
        (ticket_id,),
    )
    for chain in rows:
        _stop(tx, actor, chain, how)
    return len(rows)
