"""Low stock reaches the dispatchers of the store's site, not every dispatcher channel.

Two sites, A and B, each with a dispatcher whose token is scoped to it and who subscribes a
dispatcher channel through the API (it takes the token's site); an all-sites dispatcher's
channel hears of both. Counting A's store down to its reorder point tells A's channel once
(delivered to a real HTTP receiver) and B's not at all; B's low store the other way round; a
store shared by every site tells all three. Bad site scopes on channels are refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from people_helpers import Receiver
from ticketing_helpers import auth, uid

from forewarn import db as fdb
from ticketing.auth import create_token


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    rs = {k: Receiver() for k in ("a", "b", "all")}
    yield rs
    for r in rs.values():
        r.server.shutdown()


def _token(dsn: str, role: str, sites: list[str] | None) -> dict[str, str]:
    with fdb.connect(dsn, autocommit=True) as conn:
        return auth(create_token(conn, f"{role}-{uid()}", role, sites=sites)[1])


def _deliver_until(app: Any, done: Callable[[], bool], rounds: int = 50) -> None:
    """The session's database holds other tests' due messages too (oldest first)."""
    for _ in range(rounds):
        app.state.notifier.deliver_due()
        if done():
            return
    raise AssertionError("the expected notification was never delivered")


def test_low_stock_tells_the_stores_site_and_all_site_dispatchers_only(
    app, client, tokens, dsn, receivers, make_engineer
) -> None:
    a, b = f"site-a-{uid()}", f"site-b-{uid()}"
    admin = auth(tokens["admin"])
    disp = {"a": _token(dsn, "dispatcher", [a]), "b": _token(dsn, "dispatcher", [b])}
    disp["all"] = auth(tokens["dispatcher"])  # no site restriction
    ch: dict[str, dict[str, Any]] = {}
    for key in ("a", "b", "all"):
        body = {"role": "dispatcher", "url": receivers[key].url, "events": ["low_stock"]}
        r = client.post("/notifications/channels", json=body, headers=disp[key])
        assert r.status_code == 201, r.text
        ch[key] = r.json()
    assert ch["a"]["sites"] == [a] and ch["b"]["sites"] == [b] and ch["all"]["sites"] is None
    # an engineer's own channel (every event) is never told of stock
    eng = make_engineer(f"stock-{uid()}")
    r = client.post(
        "/notifications/channels",
        json={"engineer_id": eng, "url": receivers["all"].url},
        headers=disp["a"],
    )
    assert r.status_code == 201 and r.json()["sites"] is None, r.text
    ch["engineer"] = r.json()

    part = client.post(
        "/parts", json={"sku": f"brg-{uid()}", "name": "bearing 6204"}, headers=admin
    ).json()

    def count(site: str, headers: dict[str, str]) -> None:
        """The site's dispatcher counts its store: 6 > 4 fine; 3 <= 4 low; 3 again: once."""
        for body in ({"on_hand": 6, "reorder_point": 4, "site": site}, {"on_hand": 3}, {}):
            r = client.put(f"/parts/{part['id']}/stock/store-{site}", json=body, headers=headers)
            assert r.status_code == 200, r.text

    def told() -> dict[str, int]:
        rows = client.get("/notifications/outbox?limit=500", headers=admin).json()
        return {
            k: sum(o["channel_id"] == c["id"] and o["event"] == "low_stock" for o in rows)
            for k, c in ch.items()
        }

    count(a, disp["a"])
    assert told() == {"a": 1, "b": 0, "all": 1, "engineer": 0}
    _deliver_until(app, lambda: len(receivers["a"].got) >= 1)
    assert len(receivers["a"].got) == 1
    assert f"at {a}" in receivers["a"].got[0]["message"]
    assert receivers["b"].got == []

    count(b, disp["b"])
    assert told() == {"a": 1, "b": 1, "all": 2, "engineer": 0}

    # a store shared by every site (no site; only an unscoped token counts it): all hear
    shared = f"shared-{uid()}"
    for body in ({"on_hand": 6, "reorder_point": 4}, {"on_hand": 3}):
        r = client.put(f"/parts/{part['id']}/stock/{shared}", json=body, headers=admin)
        assert r.status_code == 200, r.text
    assert told() == {"a": 2, "b": 2, "all": 3, "engineer": 0}


def test_a_breach_tells_the_tickets_site_and_all_site_dispatchers_only(
    app, client, tokens, dsn, make_asset, clock
) -> None:
    """The same rule for a ticket's SLA breach (dispatchers): site A's breach reaches A's
    dispatcher channel and the all-sites one, not B's."""
    a, b = f"site-a-{uid()}", f"site-b-{uid()}"
    ch: dict[str, int] = {}
    for key, headers in (
        ("a", _token(dsn, "dispatcher", [a])),
        ("b", _token(dsn, "dispatcher", [b])),
        ("all", auth(tokens["dispatcher"])),
    ):
        body = {"role": "dispatcher", "url": "json://127.0.0.1:9/x", "events": ["breach"]}
        r = client.post("/notifications/channels", json=body, headers=headers)
        assert r.status_code == 201, r.text
        ch[key] = r.json()["id"]
    r = client.post(
        "/tickets",
        headers=auth(tokens["dispatcher"]),
        json={"asset": make_asset(f"chiller_{uid()}", site=a), "title": "trip", "priority": "P0"},
    )
    assert r.status_code == 201, r.text
    tid = r.json()["ticket"]["id"]
    clock.advance(minutes=31)  # P0: 30 minutes to respond
    assert "response_breach" in [x.kind for x in app.state.sla.scan() if x.ticket_id == tid]
    rows = client.get(
        f"/notifications/outbox?ticket_id={tid}", headers=auth(tokens["admin"])
    ).json()
    told = {
        k: sum(o["channel_id"] == c and o["event"] == "breach" for o in rows) for k, c in ch.items()
    }
    assert told == {"a": 1, "b": 0, "all": 1}


def test_channel_site_scopes_are_checked(client, tokens, dsn) -> None:
    """Tried: a scoped token naming another site (403), sites on an engineer's channel, an
    empty list, a bad site name (422); a scoped token lists and deactivates only channels of
    its sites and of every site (another site's: 404)."""
    a, b = f"site-a-{uid()}", f"site-b-{uid()}"
    da, db_ = _token(dsn, "dispatcher", [a]), _token(dsn, "dispatcher", [b])
    url = "json://127.0.0.1:9/x"
    for body, headers, code in (
        ({"role": "dispatcher", "url": url, "sites": [b]}, da, 403),
        ({"role": "dispatcher", "url": url, "sites": [a, b]}, da, 403),
        ({"engineer_id": 1, "url": url, "sites": [a]}, auth(tokens["admin"]), 422),
        ({"role": "dispatcher", "url": url, "sites": []}, da, 422),
        ({"role": "dispatcher", "url": url, "sites": ["no site/../x"]}, da, 422),
        ({"role": "dispatcher", "url": url, "sites": [None]}, da, 422),
    ):
        r = client.post("/notifications/channels", json=body, headers=headers)
        assert r.status_code == code, (body, r.text)
        assert "site" in r.text, (body, r.text)
    # an unscoped admin may scope a channel to any sites; duplicates fold
    r = client.post(
        "/notifications/channels",
        json={"role": "supervisor", "url": url, "sites": [b, a, b]},
        headers=auth(tokens["admin"]),
    )
    assert r.status_code == 201 and r.json()["sites"] == sorted([a, b]), r.text
    both = r.json()["id"]
    only_b = client.post(
        "/notifications/channels", json={"role": "dispatcher", "url": url}, headers=db_
    ).json()["id"]
    everyone = client.post(
        "/notifications/channels",
        json={"role": "dispatcher", "url": url},
        headers=auth(tokens["admin"]),
    ).json()["id"]
    seen = {c["id"] for c in client.get("/notifications/channels", headers=da).json()}
    assert {both, everyone} <= seen and only_b not in seen
    assert client.delete(f"/notifications/channels/{only_b}", headers=da).status_code == 404
    r = client.delete(f"/notifications/channels/{only_b}", headers=db_)
    assert r.status_code == 200 and r.json()["active"] is False, r.text
