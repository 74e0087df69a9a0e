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

from ticketing import lifecycle, tickets
from ticketing.store import SYSTEM, Row, Store, Tx

log = logging.getLogger("ticketing.sla")
OPEN = "t.state not in ('resolved', 'closed', 'cancelled')"
WARN = "make_interval(mins => p.warn_before_minutes)"
# The site's own policy for the priority, else the default one (site '*').
POLICY = (
    "join lateral (select * from sla_policies p where p.priority = t.priority"
    " and p.site in (t.site, '*') order by p.site = '*' limit 1) p on true"
)

QUERIES = {
    "response_breach": f"t.acknowledged_at is null and {OPEN} and t.response_breached_at is null"
    " and t.response_due <= %(now)s",
    "resolution_breach": f"t.resolved_at is null and {OPEN} and t.resolution_breached_at is null"
    " and t.resolution_due <= %(now)s",
    "response_warning": f"t.acknowledged_at is null and {OPEN} and t.response_warned_at is null"
    f" and t.response_breached_at is null and t.response_due - {WARN} <= %(now)s"
    " and t.response_due > %(now)s",
    "resolution_warning": f"t.resolved_at is null and {OPEN} and t.resolution_warned_at is null"
    f" and t.resolution_breached_at is null and t.resolution_due - {WARN} <= %(now)s"
    " and t.resolution_due > %(now)s",
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
        changes: dict[str, Any] = {
            f"{which}_breached_at": tx.now,
            "escalations": row["escalations"] + 1,
        }
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
        reassign = which == "response" or new["state"] in ("new", "assigned")
        if reassign and new["state"] in lifecycle.ASSIGNABLE:
            exclude = frozenset({new["engineer_id"]}) if new["engineer_id"] else frozenset()
            tickets.route(tx, new, "escalation", exclude=exclude, supervisor_fallback=True)
