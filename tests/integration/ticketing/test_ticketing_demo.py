"""The demo seed behind ``forewarn ticketing run --demo-seed`` (used by ``forewarn demo``)."""

from __future__ import annotations

from ticketing_helpers import anomaly, auth, uid

from ticketing.demo import ENGINEERS, seed


def test_demo_seed_is_repeatable_and_its_tokens_work(client, dsn, db) -> None:
    first = seed(dsn)
    again = seed(dsn)
    names = [e["name"] for e in ENGINEERS]
    count = db.execute("select count(*) from engineers where name = any(%s)", (names,)).fetchone()
    assert count == (len(ENGINEERS),)  # engineers once, fresh tokens each run
    assert {t for *_, t in first}.isdisjoint({t for *_, t in again})
    roles = {}
    for _name, role, token in again:
        r = client.get("/me", headers=auth(token))
        assert r.status_code == 200
        roles[role] = r.json()
    assert set(roles) == {"admin", "dispatcher", "integration", "engineer"}
    assert roles["engineer"]["engineer_id"] is not None
    integration = next(t for _, role, t in again if role == "integration")
    # A cavitation alarm on a pump in the north plant goes to the demo's pump specialist.
    asset = f"pump-{uid()}"
    ev = anomaly(asset, site="north", fault="cavitation", asset_class="centrifugal_pump")
    r = client.post("/anomalies", json=ev, headers=auth(integration))
    assert r.status_code == 201
    ada = db.execute("select id from engineers where name = 'Ada Pumps'").fetchone()[0]
    assert r.json()["engineer_id"] == ada
