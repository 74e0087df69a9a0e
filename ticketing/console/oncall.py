"""The on-call page: the escalation chains paging you, with an Acknowledge button. The link
in a page's message leads here, because the on-call engineer is often not (yet) the one the
ticket is assigned to, so its ticket page would be closed to them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ticketing import scope
from ticketing.auth import WORKERS
from ticketing.console import session
from ticketing.console.pages import current, error_page, render, store, ticket_id_of
from ticketing.errors import TicketingError
from ticketing.notifications import oncall
from ticketing.store import Actor, Tx

router = APIRouter(prefix="/console", include_in_schema=False)


def _chains(tx: Tx, actor: Actor) -> list[dict[str, Any]]:
    mine = actor.engineer_id if actor.role == "engineer" else None
    return tx.all(
        "select c.*, t.title, t.asset, t.site, t.priority, t.state, t.engineer_id"
        " from escalation_chains c join tickets t on t.id = c.ticket_id"
        " where (c.acknowledged_at is null or c.acknowledged_at > %s - interval '1 day')"
        " and (%s::bigint is null or %s = any(c.chain))"
        " and (%s::text[] is null or t.site = any(%s))"
        " order by c.acknowledged_at is not null, c.started_at desc limit 100",
        (tx.now, mine, mine, scope.sql_sites(actor), scope.sql_sites(actor)),
    )


def _rotas(tx: Tx, actor: Actor) -> list[dict[str, Any]]:
    """Who is on call now per rotation of the token's sites: primary, secondary (the next
    member), supervisor."""
    rotas = tx.all("select * from oncall_rotations order by site, id limit 50")
    return [{**r, "now": oncall.on_call(r, tx.now)[:2]} for r in scope.rows(actor, rotas)]


@router.get("/oncall", response_class=HTMLResponse)
def oncall_page(request: Request) -> Response:
    actor = current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor

    def fn(tx: Tx) -> dict[str, Any]:
        names = {e["id"]: e["name"] for e in tx.all("select id, name from engineers")}
        return {
            "chains": _chains(tx, actor),
            "engineer_names": names,
            "rotations": _rotas(tx, actor),
        }

    return render(request, "oncall.html", actor, **store(request).read(fn))


@router.post("/oncall/{chain_id}/ack", response_class=HTMLResponse)
def oncall_ack(request: Request, chain_id: str, csrf: str | None = Form(None)) -> Response:
    actor = current(request, WORKERS)
    if not isinstance(actor, Actor):
        return actor
    cid = ticket_id_of(chain_id)
    if cid is None:
        return error_page(request, 404, "no such escalation chain", actor)
    if not session.csrf_ok(request, csrf):
        return error_page(request, 403, "invalid or missing CSRF token; reload the page", actor)
    try:
        store(request).run(lambda tx: scope.chain_then(tx, actor, cid, oncall.acknowledge))
    except TicketingError as exc:
        return error_page(request, exc.status, exc.message, actor)
    return RedirectResponse("/console/oncall", status_code=303)
