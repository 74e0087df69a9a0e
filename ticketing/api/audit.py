"""The audit route: verify the hash chain."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ticketing.api.common import role_router, roles, store
from ticketing.auth import ADMIN, require_unscoped
from ticketing.errors import AuditBroken
from ticketing.schemas import VerifyOut
from ticketing.store import Actor, verify_chain

router = role_router(tags=["audit"])


@router.get("/audit/verify", response_model=VerifyOut)
def audit_verify(request: Request, actor: Actor = roles(*ADMIN)) -> Any:
    """Recompute the hash chain; ``ok: false`` names the first event that does not verify."""
    require_unscoped(actor, "verify the audit chain (it spans every site)")
    try:
        return {"ok": True, "events": store(request).read(lambda tx: verify_chain(tx.conn))}
    except AuditBroken as exc:
        return {
            "ok": False,
            "events": None,
            "broken_at": exc.data["seq"],
            "reason": exc.data["reason"],
        }
