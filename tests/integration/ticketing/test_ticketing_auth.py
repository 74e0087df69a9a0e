"""Roles on every route, table-driven: 401 without or with a bad token, 403 for a wrong
role, admitted roles get past auth. The table must list every route the app has."""

from __future__ import annotations

from typing import Any

import pytest
from ticketing_helpers import auth

ALL = {"admin", "dispatcher", "engineer", "integration"}
STAFF = {"admin", "dispatcher"}
WORKERS = {"admin", "dispatcher", "engineer"}
ADMIN = {"admin"}
PUBLIC: set[str] = set()

TABLE: dict[tuple[str, str], set[str]] = {
    ("POST", "/tickets"): {"admin", "dispatcher", "integration"},
    ("GET", "/tickets"): ALL,
    ("GET", "/tickets/{ticket_id}"): ALL,
    ("PATCH", "/tickets/{ticket_id}"): STAFF,
    ("GET", "/tickets/{ticket_id}/events"): WORKERS,
    ("POST", "/tickets/{ticket_id}/transitions"): WORKERS,
    ("POST", "/tickets/{ticket_id}/assign"): STAFF,
    ("POST", "/tickets/{ticket_id}/subtasks"): WORKERS,
    ("PATCH", "/tickets/{ticket_id}/subtasks/{subtask_id}"): WORKERS,
    ("POST", "/tickets/{ticket_id}/comments"): WORKERS,
    ("POST", "/tickets/{ticket_id}/attachments"): WORKERS,
    ("POST", "/anomalies"): {"admin", "integration"},
    ("GET", "/engineers"): STAFF,
    ("POST", "/engineers"): STAFF,
    ("GET", "/engineers/{engineer_id}"): WORKERS,
    ("PATCH", "/engineers/{engineer_id}"): STAFF,
    ("GET", "/sla/policies"): STAFF,
    ("PUT", "/sla/policies/{priority}"): ADMIN,
    ("POST", "/webhooks"): ADMIN,
    ("GET", "/webhooks"): ADMIN,
    ("DELETE", "/webhooks/{webhook_id}"): ADMIN,
    ("GET", "/webhooks/{webhook_id}/deliveries"): ADMIN,
    ("GET", "/kpis"): STAFF,
    ("GET", "/audit/verify"): ADMIN,
    ("GET", "/me"): ALL,
    ("GET", "/healthz"): PUBLIC,  # probes and the Prometheus scraper hold no token
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/track/{code}"): PUBLIC,  # the customer's tracking page: no login by design
    # maintenance (issue 15): the register is written by staff, read by all
    ("GET", "/assets"): ALL,
    ("POST", "/assets"): STAFF,
    ("GET", "/assets/{asset}"): ALL,
    ("PATCH", "/assets/{asset}"): STAFF,
    ("DELETE", "/assets/{asset}"): STAFF,
    ("GET", "/assets/{asset}/history"): ALL,
    ("GET", "/assets/{asset}/meters"): ALL,
    ("GET", "/assets/{asset}/health"): WORKERS,  # the detectors' health index (issue 13)
    ("POST", "/assets/{asset}/meters"): WORKERS,
    ("GET", "/asset-csv"): ALL,
    ("POST", "/asset-csv"): STAFF,
    ("GET", "/pm-plans"): WORKERS,
    ("POST", "/pm-plans"): STAFF,
    ("GET", "/pm-plans/{plan_id}"): WORKERS,
    ("PATCH", "/pm-plans/{plan_id}"): STAFF,
    ("GET", "/pm-plans/{plan_id}/occurrences"): WORKERS,
    ("GET", "/maintenance/forecast"): WORKERS,
    ("GET", "/job-plans"): WORKERS,
    ("POST", "/job-plans"): STAFF,
    ("GET", "/job-plans/{job_plan_id}"): WORKERS,
    ("GET", "/parts"): WORKERS,
    ("POST", "/parts"): STAFF,
    ("GET", "/parts/{part_id}"): WORKERS,
    ("PUT", "/parts/{part_id}/stock/{store_id}"): STAFF,
    ("GET", "/tickets/{ticket_id}/work"): WORKERS,
    ("POST", "/tickets/{ticket_id}/job-plan"): STAFF,
    ("POST", "/tickets/{ticket_id}/steps/{position}"): WORKERS,
    ("POST", "/tickets/{ticket_id}/reservations"): STAFF,
    ("POST", "/tickets/{ticket_id}/time"): WORKERS,
    ("GET", "/tickets/{ticket_id}/time"): WORKERS,
    ("POST", "/assets/{asset}/downtime"): STAFF,
    ("GET", "/assets/{asset}/downtime"): ALL,
    ("PATCH", "/downtime/{downtime_id}"): STAFF,
    ("GET", "/maintenance/kpis"): STAFF,
    ("POST", "/notifications/channels"): STAFF,
    ("GET", "/notifications/channels"): STAFF,
    ("DELETE", "/notifications/channels/{channel_id}"): STAFF,
    ("POST", "/notifications/rotations"): STAFF,
    ("GET", "/notifications/rotations"): STAFF,
    ("GET", "/notifications/chains"): WORKERS,
    ("POST", "/notifications/chains/{chain_id}/ack"): WORKERS,
    ("GET", "/notifications/outbox"): STAFF,
    ("GET", "/assets/{asset}/qr.svg"): WORKERS,
    ("GET", "/kpis/csat"): STAFF,
    ("POST", "/tickets/{ticket_id}/photos"): WORKERS,
    ("GET", "/tickets/{ticket_id}/attachments/{attachment_id}/file"): WORKERS,
    ("GET", "/tickets/{ticket_id}/attachments/{attachment_id}/thumb"): WORKERS,
    ("GET", "/tickets/{ticket_id}/signoff"): WORKERS,
    ("GET", "/tickets/{ticket_id}/signoff/signature.png"): WORKERS,
    ("POST", "/tickets/{ticket_id}/decline"): {"engineer"},
}


def _routes(app: Any) -> set[tuple[str, str]]:
    """Every operation the app serves (none is hidden from the schema)."""
    return {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}


def test_table_covers_every_route_and_matches_the_openapi(app) -> None:
    assert _routes(app) == set(TABLE)
    spec = app.openapi()
    for (method, path), allowed in TABLE.items():
        documented = spec["paths"][path][method.lower()]["x-roles"]
        assert set(documented) == (allowed or {"public"}), (method, path)
        if allowed:
            assert "HTTPBearer" in str(spec["paths"][path][method.lower()].get("security"))


@pytest.fixture
def role_tokens(tokens, make_engineer, engineer_token) -> tuple[dict[str, str], int]:
    eng = make_engineer("role-test")
    return {**tokens, "engineer": engineer_token(eng)}, eng


@pytest.mark.parametrize(("method", "path"), sorted(TABLE))
def test_roles_are_enforced(method: str, path: str, client, role_tokens) -> None:
    toks, eng = role_tokens
    allowed = TABLE[(method, path)]
    url = path.format(
        ticket_id=987654321,
        subtask_id=1,
        engineer_id=eng,
        priority="P2",
        code="ABCDEFGHJK",
        webhook_id=987654321,
        asset="no-such-asset",
        plan_id=987654321,
        job_plan_id=987654321,
        part_id=987654321,
        store_id="main",
        position=1,
        downtime_id=987654321,
        channel_id=987654321,
        chain_id=987654321,
        attachment_id=987654321,
    )
    body = {} if method in ("POST", "PUT", "PATCH") else None

    def call(headers: dict[str, str]) -> Any:
        return client.request(method, url, json=body, headers=headers)

    if not allowed:
        assert call({}).status_code not in (401, 403)
        return
    for headers in ({}, auth("fwt_not-a-real-token"), {"Authorization": "Basic dXNlcjpwdw=="}):
        r = call(headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer" and r.json()["detail"]
    for role, token in toks.items():
        r = call(auth(token))
        if role in allowed:
            assert r.status_code not in (401, 403, 500), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert f"role {role!r} may not do this" in r.json()["detail"]
