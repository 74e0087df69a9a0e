"""Notifications to people through Apprise, against a real SMTP server and HTTP receiver:
the 23:00 breach pages the on-call engineer and climbs to the secondary when nobody
acknowledges; an SMTP outage across a ticketing restart loses nothing and sends once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from people_helpers import Mailbox, Receiver
from ticketing_helpers import auth, uid

from ticketing import notifications
from ticketing.app import create_app
from ticketing.notifications.outbox import quiet_until

ALL_DAY = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]
MONDAY_2230 = datetime(2026, 1, 5, 22, 30, tzinfo=UTC)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    m = Mailbox().start()
    yield m
    m.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _channel(client, tokens, **body) -> dict:
    r = client.post("/notifications/channels", headers=auth(tokens["dispatcher"]), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _events(client, tokens, tid: int) -> list[dict]:
    return client.get(f"/tickets/{tid}/events", headers=auth(tokens["admin"])).json()


def _deliver_until(app: Any, done: Callable[[], bool], rounds: int = 50) -> None:
    """Run the sender until ``done``: the session's database also holds other tests' due
    messages (to receivers long gone), which the sender takes oldest first, a batch a round."""
    for _ in range(rounds):
        app.state.notifier.deliver_due()
        if done():
            return
    raise AssertionError("the expected notification was never delivered")


def test_breach_at_23_pages_on_call_by_email_then_secondary_until_acknowledged(
    app, client, tokens, make_asset, make_engineer, engineer_token, clock, mailbox, receiver
) -> None:
    clock.set(MONDAY_2230)
    site = f"site-{uid()}"
    cls = f"chiller_{uid()}"
    worker = make_engineer("worker", asset_classes=[cls], shifts=ALL_DAY, zones=[site])
    primary = make_engineer("Wang primary", asset_classes=["other"], zones=[site])
    secondary = make_engineer("Li secondary", asset_classes=["other"], zones=[site])
    boss = make_engineer("Zhao boss", asset_classes=[], supervisor=True, zones=[site])
    ch1 = _channel(client, tokens, engineer_id=primary, url=mailbox.url("wang@example.com"))
    ch2 = _channel(client, tokens, engineer_id=secondary, url=receiver.url, label="Li's phone")
    _channel(client, tokens, engineer_id=boss, url=mailbox.url("zhao@example.com"))
    # Quiet hours do not hold back an on-call page (breach and escalation are urgent).
    r = client.post(
        "/notifications/rotations",
        headers=auth(tokens["dispatcher"]),
        json={
            "name": "nights",
            "site": site,
            "members": [primary, secondary],
            "handoff_at": "2026-01-05T08:00:00Z",
            "period_hours": 168,
            "ack_minutes": 10,
            "supervisor_id": boss,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["on_call_now"] == [primary, secondary]

    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls, site=site), "title": "compressor trip", "priority": "P0"},
    ).json()["ticket"]
    assert t["engineer_id"] == worker
    clock.set(datetime(2026, 1, 5, 23, 0, 30, tzinfo=UTC))  # P0: 30 min to respond; missed
    assert [a.kind for a in app.state.sla.scan() if a.ticket_id == t["id"]] == ["response_breach"]
    _deliver_until(
        app,
        lambda: any(
            "SLA BREACH" in s and f"#{t['id']}" in s for s in mailbox.to("wang@example.com")
        ),
    )
    assert receiver.got == []  # the secondary is not paged yet
    body = next(b for b in mailbox.bodies("wang@example.com") if "on call" in b)
    assert "/console/oncall" in body and "10 minutes" in body  # where to acknowledge, and when

    chains = client.get(
        f"/notifications/chains?ticket_id={t['id']}", headers=auth(tokens["dispatcher"])
    ).json()
    assert len(chains) == 1 and chains[0]["chain"] == [primary, secondary, boss]
    clock.advance(minutes=5)
    assert notifications.advance_chains(app.state.store) == 0  # still within ack_minutes
    clock.advance(minutes=6)  # 23:11: nobody acknowledged within 10 minutes
    assert notifications.advance_chains(app.state.store) == 1
    _deliver_until(app, lambda: len(receiver.got) >= 1)
    assert len(receiver.got) == 1 and f"#{t['id']}" in receiver.got[0]["title"]
    assert "ESCALATED" in receiver.got[0]["title"]

    # The on-call page in the console lists the chain for the people it paged.
    page = client.get(
        "/console/oncall", headers={"cookie": f"fw_console={engineer_token(secondary)}"}
    )
    assert f'data-ack="{chains[0]["id"]}"' in page.text and "compressor trip" in page.text
    other_page = client.get(
        "/console/oncall", headers={"cookie": f"fw_console={engineer_token(worker)}"}
    )
    assert f'data-chain="{chains[0]["id"]}"' not in other_page.text

    forged = client.post(
        f"/console/oncall/{chains[0]['id']}/ack",
        headers={"cookie": f"fw_console={engineer_token(secondary)}"},
        data={"csrf": "forged"},
    )
    assert forged.status_code == 403

    # The secondary acknowledges: the chain stops before the supervisor.
    ack = client.post(
        f"/notifications/chains/{chains[0]['id']}/ack", headers=auth(engineer_token(secondary))
    )
    assert ack.status_code == 200 and ack.json()["acknowledged_at"] is not None
    # An engineer the chain never paged may not acknowledge it.
    other = client.post(
        f"/notifications/chains/{chains[0]['id']}/ack", headers=auth(engineer_token(worker))
    )
    assert other.status_code == 403
    page = client.get(
        "/console/oncall", headers={"cookie": f"fw_console={engineer_token(secondary)}"}
    )
    assert "Acknowledged by" in page.text and f'data-ack="{chains[0]["id"]}"' not in page.text
    clock.advance(minutes=30)
    assert notifications.advance_chains(app.state.store) == 0
    app.state.notifier.deliver_due()
    pages = [e for e in _events(client, tokens, t["id"]) if e["action"] == "oncall_paged"]
    assert [p["after"]["engineer_id"] for p in pages] == [primary, secondary]
    sent = [e for e in _events(client, tokens, t["id"]) if e["action"] == "notification_sent"]
    assert {e["after"]["event"] for e in sent} >= {"breach", "escalation"}
    paged = client.get(
        f"/notifications/outbox?ticket_id={t['id']}", headers=auth(tokens["admin"])
    ).json()
    chained = [o for o in paged if o["chain_id"] == chains[0]["id"]]
    assert sorted(o["channel_id"] for o in chained) == [ch1["id"], ch2["id"]]  # not the boss
    assert all(o["status"] == "delivered" for o in chained)


def test_smtp_outage_across_restart_loses_nothing_and_sends_once(
    settings, clock, tokens, make_asset, db
) -> None:
    """SMTP is down when the job is assigned; ticketing restarts; SMTP comes back: the
    message arrives exactly once. A second channel's password never reaches a log."""
    mailbox = Mailbox()  # not started: the outage
    cls = f"press_{uid()}"
    app = create_app(settings, clock=clock, background=False, mqtt=False)
    with TestClient(app) as client:
        eng = client.post(
            "/engineers",
            headers=auth(tokens["dispatcher"]),
            json={"name": "Chen", "asset_classes": [cls], "shifts": ALL_DAY},
        ).json()["id"]
        _channel(client, tokens, engineer_id=eng, url=mailbox.url("chen@example.com"))
        secret_ch = _channel(
            client,
            tokens,
            engineer_id=eng,
            url=mailbox.url("chen2@example.com", user="chen", password="hunter2-s3cret"),
            label="with password",
        )
        assert "hunter2-s3cret" not in secret_ch["url"]
        t = client.post(
            "/tickets",
            headers=auth(tokens["dispatcher"]),
            json={"asset": make_asset(cls), "title": "hydraulic leak", "priority": "P1"},
        ).json()["ticket"]
        assert t["engineer_id"] == eng  # the ticket change committed despite SMTP being down
        assert app.state.notifier.deliver_due() == 0
        pending = client.get(
            f"/notifications/outbox?ticket_id={t['id']}", headers=auth(tokens["admin"])
        ).json()
        assert len(pending) == 2
        assert all(p["status"] == "pending" and p["attempts"] == 1 for p in pending)
    mailbox.start()  # SMTP is back, ticketing restarts
    try:
        app2 = create_app(settings, clock=clock, background=False, mqtt=False)
        with TestClient(app2):
            assert app2.state.notifier.deliver_due() == 0  # backoff not yet over
            clock.advance(minutes=2)
            # The password channel fails (aiosmtpd refuses AUTH without TLS); the other sends.
            assert app2.state.notifier.deliver_due() == 1
            clock.advance(hours=2)
            app2.state.notifier.deliver_due()
            assert app2.state.notifier.deliver_due() == 0
        assert len(mailbox.to("chen@example.com")) == 1
        assert "hydraulic leak" in mailbox.to("chen@example.com")[0]
    finally:
        mailbox.stop()
    bodies = " ".join(r[0] for r in db.execute("select body from audit_events").fetchall())
    errors = db.execute(
        "select string_agg(coalesce(last_error, ''), ' ') from notification_outbox"
    ).fetchone()
    assert "hunter2-s3cret" not in bodies and "hunter2-s3cret" not in (errors[0] or "")
    acts = [
        json.loads(r[0])["action"]
        for r in db.execute(
            "select body from audit_events where entity = 'ticket' and entity_id = %s",
            (str(t["id"]),),
        ).fetchall()
    ]
    assert acts.count("notification_sent") == 1 and "notification_retry" in acts


def test_quiet_hours_hold_back_non_urgent_messages(
    app, client, tokens, make_asset, make_engineer, clock, receiver
) -> None:
    cls = f"lift_{uid()}"
    clock.set(datetime(2026, 1, 5, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai
    eng = make_engineer("Sun", asset_classes=[cls], shifts=ALL_DAY)
    _channel(
        client,
        tokens,
        engineer_id=eng,
        url=receiver.url,
        locale="zh_CN",
        quiet_start="22:00",
        quiet_end="07:00",
        timezone="Asia/Shanghai",
    )
    t = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(cls), "title": "door sensor", "priority": "P2"},
    ).json()["ticket"]
    assert app.state.notifier.deliver_due() == 0 and receiver.got == []
    clock.set(datetime(2026, 1, 5, 23, 0, 1, tzinfo=UTC))  # 07:00 in Shanghai
    assert app.state.notifier.deliver_due() == 1
    assert receiver.got[0]["title"].startswith(f"工单 #{t['id']} 已派给您")
    assert "CST" in receiver.got[0]["message"]  # deadlines in the channel's time zone


def test_low_stock_reaches_the_dispatcher_role_and_bad_channels_are_refused(
    app, client, tokens, receiver
) -> None:
    """Stock counted down to the reorder point through the API sends one ``low_stock``
    (before, the hook waited for ``*low_stock`` events that nothing emits)."""
    _channel(client, tokens, role="dispatcher", url=receiver.url, events=["low_stock"])
    _channel(client, tokens, role="dispatcher", url=receiver.url, events=["assigned"])
    h = auth(tokens["dispatcher"])
    sku = f"brg-{uid()}"
    part = client.post("/parts", json={"sku": sku, "name": "bearing 6204"}, headers=h).json()
    for body in ({"on_hand": 6, "reorder_point": 4, "site": "site-a"}, {"on_hand": 3}, {}):
        r = client.put(f"/parts/{part['id']}/stock/main", json=body, headers=h)
        assert r.status_code == 200, r.text  # 6 > 4: fine; 3 <= 4: low; 3 again: told once
    _deliver_until(app, lambda: len(receiver.got) >= 1)
    assert [(g["title"], g["message"]) for g in receiver.got] == [
        (
            f"Low stock: bearing 6204 ({sku})",
            f"bearing 6204 ({sku}) is down to 3 available in store main at site-a"
            " (reorder point 4).",
        )
    ]
    with pytest.raises(ValueError, match=r"part\.low_stock"):  # not an event of the contract
        app.state.store.run(lambda tx: tx.emit("part.low_stock", "site-a", None, {}))
    for bad in (
        {"role": "dispatcher", "url": "nonsense://x"},
        {"url": receiver.url},  # neither engineer nor role
        {"role": "dispatcher", "url": receiver.url, "timezone": "Mars/Base"},
        {"role": "dispatcher", "url": receiver.url, "quiet_start": "22:00"},
        {"engineer_id": 2**50, "url": receiver.url},
    ):
        r = client.post("/notifications/channels", headers=auth(tokens["dispatcher"]), json=bad)
        assert r.status_code in (404, 422), (bad, r.text)
    r = client.post(
        "/notifications/channels",
        headers=auth(tokens["integration"]),
        json={"role": "dispatcher", "url": receiver.url},
    )
    assert r.status_code == 403


def test_quiet_until_spans_midnight_in_local_time() -> None:
    at = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 23:00 Shanghai
    assert quiet_until(at, time(22), time(7), "Asia/Shanghai") == datetime(
        2026, 1, 5, 23, 0, tzinfo=UTC
    )
    assert quiet_until(at, time(1), time(6), "Asia/Shanghai") is None
    assert quiet_until(at, time(12), time(14), "UTC") is None
