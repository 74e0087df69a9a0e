"""The demo seed's people side: disabled notification channels at a harmless local address
and one on-call rotation, so the console's On call page shows who is on call. Tried: seeding
twice (nothing doubles), a ticket for a seeded engineer (nothing is queued to the disabled
channels, so a demo never sends anything anywhere)."""

from __future__ import annotations

from datetime import timedelta

from ticketing_helpers import anomaly, auth, uid

from ticketing.demo import ENGINEERS, seed
from ticketing.notifications.demo import HANDOFF, LABEL, ROTATION


def test_demo_seed_ships_disabled_channels_and_an_on_call_rotation(
    client, dsn, db, tokens, clock
) -> None:
    seed(dsn, people=True)
    try:
        _check(client, dsn, db, tokens, clock)
    finally:  # the catch-all rotation would page for other tests' breached tickets
        db.execute(
            "delete from escalation_chains where rotation_id in"
            " (select id from oncall_rotations where name = %s)",
            (ROTATION,),
        )
        db.execute("delete from oncall_rotations where name = %s", (ROTATION,))


def _check(client, dsn, db, tokens, clock) -> None:
    seed(dsn, people=True)
    rows = db.execute(
        "select engineer_id, role, url, active from notification_channels where label = %s",
        (LABEL,),
    ).fetchall()
    assert len(rows) == len(ENGINEERS) + 1  # one per engineer, one for the dispatchers
    assert not any(r[3] for r in rows)  # all disabled
    assert all("127.0.0.1:9" in r[2] for r in rows)  # the discard port on this machine
    rot = [r for r in client.get("/notifications/rotations", headers=auth(tokens["admin"])).json()]
    mine = [r for r in rot if r["name"] == ROTATION]
    assert len(mine) == 1
    r = mine[0]
    names = {
        i: n
        for i, n in db.execute("select id, name from engineers where id = any(%s)", (r["members"],))
    }
    assert sorted(names.values()) == sorted(e["name"] for e in ENGINEERS if not e.get("supervisor"))
    turn = int((clock.now() - HANDOFF) // timedelta(hours=24)) % len(r["members"])
    primary, secondary = r["members"][turn], r["members"][(turn + 1) % len(r["members"])]
    assert r["on_call_now"] == [primary, secondary]

    page = client.get("/console/oncall", headers={"cookie": f"fw_console={tokens['dispatcher']}"})
    assert page.status_code == 200 and 'id="rotations"' in page.text
    row = page.text.split(f'data-rotation="{r["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert f'<td class="primary">{names[primary]}</td>' in row
    assert names[secondary] in row and "Ed Supervisor" in row

    integration = next(t for _, role, t in seed(dsn, people=True) if role == "integration")
    ev = anomaly(f"pump-{uid()}", site="north", fault="cavitation", asset_class="centrifugal_pump")
    made = client.post("/anomalies", json=ev, headers=auth(integration))
    assert made.status_code == 201
    queued = db.execute(
        "select count(*) from notification_outbox o join notification_channels c"
        " on c.id = o.channel_id where c.label = %s",
        (LABEL,),
    ).fetchone()
    assert queued == (0,)
