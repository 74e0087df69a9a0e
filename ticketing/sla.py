"""SLA timers. Deadlines are columns of ``tickets``; a scan finds what is due at the
injected clock's "now", so a restart loses nothing and a breach that happened while the
service was down is handled by the first scan on start.

Warning: ``warn_before_minutes`` ahead of a deadline. Breach: raise the priority one step,
record the breach and reassign (response breach, or resolution breach while nobody is
working on it) to the next best engineer, else a supervisor; webhooks ``sla.warning`` and
``sla.breached`` notify.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from ticketing import lifecycle, policies, tickets
from ticketing.lifecycle import T_OPEN
from ticketing.store import SYSTEM, Row, Store, Tx

log = logging.getLogger("ticketing.sla")
WARN = "make_interval(mins => p.warn_before_minutes)"
# The site's own policy for the priority, else the default one (site '*').
POLICY = f"join lateral ({policies.lookup('t.priority', 't.site')}) p on true"

QUERIES = {
    "response_breach": f"t.acknowledged_at is null and {T_OPEN} and t.response_breached_at is null"
    " and t.response_due <= %(now)s",
    "resolution_breach": f"t.resolved_at is null and {T_OPEN} and t.resolution_breached_at is null"
    " and t.resolution_due <= %(now)s",
    "response_warning": f"t.acknowledged_at is null and {T_OPEN} and t.response_warned_at is null"
    f" and t.response_breached_at is null and t.response_due - {WARN} <= %(now)s"
    " and t.response_due > %(now)s",
    "resolution_warning": f"t.resolved_at is null and {T_OPEN} and t.resolution_warned_at is null"
    f" and t.resolution_breached_at is null and t.resolution_due - {WARN} <= %(now)s"
    " and t.resolution_due > %(now)s",
    # The engineer who got the ticket by escalation has not accepted it in time either.
    "escalation_breach": f"t.state = 'assigned' and {T_OPEN} and t.escalation_due <= %(now)s",
}


@dataclass(frozen=True)
class Action:
    ticket_id: int
    kind: str


class SlaMonitor:
    def __init__(self, store: Store, *, batch: int = 500) -> None:
        self.store = store
        self.batch = batch

    def due(self, tx: Tx) -> list[Action]:
        out: list[Action] = []
        for kind, where in QUERIES.items():
            rows = tx.all(
                f"select t.id from tickets t {POLICY} where {where} order by t.id limit %(limit)s",
                {"now": tx.now, "limit": self.batch},
            )
            out += [Action(r["id"], kind) for r in rows]
        return out

    def scan(self) -> list[Action]:
        """Handle everything due now; returns what was done (each in its own transaction)."""
        done = []
        for action in self.store.read(self.due):
            try:
                if self.store.run(functools.partial(self._handle, action=action)):
                    done.append(action)
            except Exception:
                log.exception("SLA action %s failed; it stays due for the next scan", action)
        return done

    def _handle(self, tx: Tx, action: Action) -> bool:
        row = tx.one(
            f"select t.* from tickets t {POLICY}"
            f" where t.id = %(id)s and {QUERIES[action.kind]} for update of t",
            {"id": action.ticket_id, "now": tx.now},
        )
        if row is None:  # handled by someone else, or no longer due
            return False
        which = action.kind.split("_")[0]
        due = row[f"{which}_due"]
        if action.kind.endswith("warning"):
            tickets.update(
                tx,
                SYSTEM,
                row,
                {f"{which}_warned_at": tx.now},
                "sla_warning",
                "sla.warning",
                note=f"{which} deadline {due.isoformat()} approaching",
            )
            return True
        self._escalate(tx, row, which, due)
        return True

    def _escalate(self, tx: Tx, row: Row, which: str, due: Any) -> None:
        priority = lifecycle.raise_priority(row["priority"])
        changes: dict[str, Any] = {"escalations": row["escalations"] + 1, "escalation_due": None}
        if which != "escalation":
            changes[f"{which}_breached_at"] = tx.now
        if priority != row["priority"]:
            changes["priority"] = priority
        new = tickets.update(
            tx,
            SYSTEM,
            row,
            changes,
            "sla_breach",
            "sla.breached",
            note=f"{which} deadline {due.isoformat()} missed",
        )
        reassign = which in ("response", "escalation") or new["state"] in ("new", "assigned")
        if reassign and new["state"] in lifecycle.ASSIGNABLE:
            exclude = frozenset({new["engineer_id"]}) if new["engineer_id"] else frozenset()
            if which == "escalation":  # nor anyone who had it before
                exclude |= frozenset(
                    r["engineer_id"]
                    for r in tx.all(
                        "select engineer_id from routing_decisions where ticket_id = %s"
                        " and engineer_id is not null",
                        (new["id"],),
                    )
                )
            routed = tickets.route(tx, new, "escalation", exclude=exclude, supervisor_fallback=True)
            if routed["engineer_id"] != new["engineer_id"]:
                self._new_deadline(tx, routed)

    def _new_deadline(self, tx: Tx, row: Row) -> None:
        """The new engineer's own time to accept: the policy's response minutes, from now."""
        response_due, _ = policies.deadlines(tx, row["priority"], tx.now, row["site"])
        tickets.update(
            tx,
            SYSTEM,
            row,
            {"escalation_due": response_due, "escalated_at": tx.now},
            "escalation_deadline",
            "ticket.updated",
            note=f"accept by {response_due.isoformat() if response_due else 'no deadline'}",
        )
