"""Webhooks (HMAC-signed, retried with backoff, logged), low stock, and detector feedback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ticketing_helpers import anomaly, auth, feedback_row, uid

from forewarn.contract import StockLow
from forewarn.settings import Settings
from ticketing.app import create_app
from ticketing.clock import ManualClock
from ticketing.config import ticketing_settings


class Receiver:
    """A real HTTP endpoint that fails the first ``fail`` requests with 500."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = 500 if outer.fail > 0 else 204
                outer.fail -= 1
                self.send_response(code)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Any:
    """The receivers here listen on loopback, which webhooks refuse unless allowed."""
    cfg = ticketing_settings(settings).model_copy(update={"webhook_allow_private": True})
    return create_app(settings, clock=clock, background=False, mqtt=False, config=cfg)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=1)
    yield r
    r.server.shutdown()


def test_webhook_is_signed_retried_with_backoff_and_logged(
    app, client, tokens, make_asset, receiver, clock
) -> None:
    secret = "s3cret-s3cret-s3cret"
    hook = client.post(
        "/webhooks",
        headers=auth(tokens["admin"]),
        json={"url": receiver.url, "event_types": ["ticket.created"], "secret": secret},
    )
    assert hook.status_code == 201 and hook.json()["secret"] == secret
    hid = hook.json()["id"]
    assert client.get("/webhooks", headers=auth(tokens["admin"])).json()[-1]["secret"] is None
    asset = make_asset(f"pump_{uid()}")
    client.post("/tickets", headers=auth(tokens["dispatcher"]), json={"asset": asset, "title": "x"})
    # Only our type was queued (the ticket was also assigned, which we did not subscribe to).
    log = client.get(f"/webhooks/{hid}/deliveries", headers=auth(tokens["admin"])).json()
    assert [d["event_type"] for d in log] == ["ticket.created"]

    sender = app.state.webhooks
    assert sender.deliver_due() == 0  # the receiver answers 500 the first time
    log = client.get(f"/webhooks/{hid}/deliveries", headers=auth(tokens["admin"])).json()
    assert log[0]["status"] == "pending" and log[0]["attempts"] == 1
    assert log[0]["last_status_code"] == 500 and log[0]["last_error"] == "HTTP 500"
    assert sender.deliver_due() == 0 and len(receiver.got) == 1  # backoff: not yet due
    clock.advance(seconds=sender.backoff_s + 1)
    assert sender.deliver_due() == 1
    log = client.get(f"/webhooks/{hid}/deliveries", headers=auth(tokens["admin"])).json()
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 2
    headers, body = receiver.got[-1]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-forewarn-signature"] == expected
    assert headers["x-forewarn-event"] == "ticket.created"
    assert json.loads(body)["asset"] == asset
    assert client.delete(f"/webhooks/{hid}", headers=auth(tokens["admin"])).status_code == 204
    assert client.delete(f"/webhooks/{hid}", headers=auth(tokens["admin"])).status_code == 404


def test_low_stock_webhook_carries_the_contract_model_and_unknown_types_are_refused(
    app, client, tokens
) -> None:
    """A webhook on ``stock.low`` gets the contract's ``StockLow`` when a count through the
    API drops a store to its reorder point; a subscription to a type the code never emits
    (the old guess ``part.low_stock``) is a 422, not a webhook that never fires."""
    admin = auth(tokens["admin"])
    r = client.post(
        "/webhooks",
        headers=admin,
        json={"url": "http://x.test/", "event_types": ["part.low_stock"]},
    )
    assert r.status_code == 422 and "event_types" in r.text
    receiver = Receiver()
    hook = client.post(
        "/webhooks", headers=admin, json={"url": receiver.url, "event_types": ["stock.low"]}
    ).json()
    try:
        sku = f"flt-{uid()}"
        part = client.post("/parts", json={"sku": sku, "name": "oil filter"}, headers=admin).json()
        for body in ({"on_hand": 5, "reorder_point": 2, "site": "site-a"}, {"on_hand": 2}):
            r = client.put(f"/parts/{part['id']}/stock/north", json=body, headers=admin)
            assert r.status_code == 200, r.text
        for _ in range(20):  # the session's database may hold other tests' due deliveries
            if receiver.got:
                break
            app.state.webhooks.deliver_due()
        got = [StockLow.model_validate_json(b) for h, b in receiver.got]
        assert [(g.sku, g.store, g.site, g.available, g.reorder_point) for g in got] == [
            (sku, "north", "site-a", 2, 2)
        ]
        assert receiver.got[0][0]["x-forewarn-event"] == "stock.low"
    finally:
        client.delete(f"/webhooks/{hook['id']}", headers=admin)
        receiver.server.shutdown()


def test_unreachable_webhook_gives_up_after_max_attempts(
    app, client, tokens, make_asset, clock
) -> None:
    hook = client.post(
        "/webhooks",
        headers=auth(tokens["admin"]),
        json={"url": "http://127.0.0.1:9/nothing", "event_types": ["*"]},
    ).json()
    client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(f"fan_{uid()}"), "title": "x"},
    )
    sender = app.state.webhooks
    for _ in range(sender.max_attempts + 2):
        sender.deliver_due()
        clock.advance(seconds=sender.backoff_s * 2**sender.max_attempts)
    log = client.get(f"/webhooks/{hook['id']}/deliveries", headers=auth(tokens["admin"])).json()
    assert log and all(d["status"] == "failed" for d in log)
    assert all(d["attempts"] == sender.max_attempts for d in log)
    assert "ConnectError" in log[0]["last_error"]
    client.delete(f"/webhooks/{hook['id']}", headers=auth(tokens["admin"]))


def test_resolution_code_is_fed_back_to_detectors(
    client, tokens, make_asset, make_engineer, engineer_token, db
) -> None:
    cls = f"pump_{uid()}"
    eng = make_engineer("fixer", asset_classes=[cls])
    asset = make_asset(cls)
    ev = anomaly(asset, fault="bearing_wear")
    tid = client.post("/anomalies", json=ev, headers=auth(tokens["integration"])).json()[
        "ticket_id"
    ]
    h = auth(engineer_token(eng))
    for to in ("accepted", "en_route", "on_site"):
        client.post(f"/tickets/{tid}/transitions", json={"to": to}, headers=h)
    r = client.post(
        f"/tickets/{tid}/transitions",
        headers=h,
        json={
            "to": "resolved",
            "resolution_code": "confirmed",
            "confirmed_fault_mode": "seal_leak",
        },
    )
    assert r.status_code == 200
    row = feedback_row(db, tid)
    assert row == (asset, "bearing_wear", "confirmed", "seal_leak", [ev["event_id"]])
    kpi = client.get("/kpis?group_by=engineer", headers=auth(tokens["admin"])).json()["rows"]
    mine = next(k for k in kpi if k["group"] == str(eng))
    assert mine["first_time_fix"] == 1.0 and mine["time_to_acknowledge_h"] == 0.0
