"""Asset register over the real API and database: CRUD and roles, hierarchy, CSV import
(all or nothing) and export, ingest drafts, criticality raising priority, meters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ticketing_helpers import anomaly, auth, uid


def _asset(client: Any, token: str, **kw: Any) -> Any:
    body = {"asset": f"a-{uid()}", "site": "site-a", **kw}
    return client.post("/assets", json=body, headers=auth(token))


def test_register_crud_hierarchy_and_audit(client, tokens, engineer_token, make_engineer) -> None:
    d = tokens["dispatcher"]
    site = _asset(client, d, level="site", name="Plant")
    assert site.status_code == 201, site.text
    line = _asset(client, d, level="line", parent=site.json()["asset"])
    machine = _asset(
        client,
        d,
        level="machine",
        parent=line.json()["asset"],
        asset_class="centrifugal_pump",
        vendor="Acme",
        model="CP-9",
        serial="SN1",
        criticality="A",
        lat=53.5,
        lon=10.0,
        commissioned_on="2020-03-01",
        documents=[{"title": "manual", "url": "https://example.com/cp9.pdf"}],
    )
    assert machine.status_code == 201, machine.text
    m = machine.json()
    assert m["status"] == "active" and m["criticality"] == "A"
    assert m["documents"] == [{"title": "manual", "url": "https://example.com/cp9.pdf"}]
    # Engineers read but may not write the register.
    eng = engineer_token(make_engineer("reader"))
    assert client.get(f"/assets/{m['asset']}", headers=auth(eng)).status_code == 200
    assert _asset(client, eng).status_code == 403
    # Unknown parent (404), and a cycle (site under its own machine, 409): the field named.
    bad = _asset(client, d, parent="no-such-asset")
    assert bad.status_code == 404 and "parent" in bad.json()["detail"]
    cyc = client.patch(
        f"/assets/{site.json()['asset']}", json={"parent": m["asset"]}, headers=auth(d)
    )
    assert cyc.status_code == 409 and "parent" in cyc.json()["detail"]
    # Out of range and unknown values: 422, nothing written.
    assert _asset(client, d, lat=91).status_code == 422
    assert _asset(client, d, criticality="D").status_code == 422
    r = client.patch(f"/assets/{m['asset']}", json={"serial": "SN2"}, headers=auth(d))
    assert r.status_code == 200 and r.json()["serial"] == "SN2"
    hist = client.get(f"/assets/{site.json()['asset']}/history", headers=auth(d)).json()
    assert hist["children"] == [line.json()["asset"]]
    events = client.get("/audit/verify", headers=auth(tokens["admin"]))
    assert events.status_code == 200
    # A referenced asset cannot be deleted; a leaf can.
    assert client.delete(f"/assets/{site.json()['asset']}", headers=auth(d)).status_code == 409
    leaf = _asset(client, d).json()["asset"]
    assert client.delete(f"/assets/{leaf}", headers=auth(d)).status_code == 204
    assert client.get(f"/assets/{leaf}", headers=auth(d)).status_code == 404


def test_csv_round_trip_and_all_or_nothing(client, tokens, db) -> None:
    d = tokens["dispatcher"]
    site = f"csv{uid()}"
    top, child = f"{site}-line", f"{site}-P1"
    text = (
        "asset,site,parent,level,asset_class,criticality,lat,lon,commissioned_on,documents\n"
        # the child comes first: the import orders parents before children
        f"{child},{site},{top},machine,centrifugal_pump,A,53.1,9.9,2021-05-04,"
        '"[{""title"": ""m"", ""url"": ""https://x.example/m""}]"\n'
        f"{top},{site},,line,,B,,,,\n"
    )
    csv_h = {**auth(d), "Content-Type": "text/csv"}
    r = client.post("/asset-csv", content=text, headers=csv_h)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 2, "updated": 0}
    out = client.get(f"/asset-csv?site={site}", headers=auth(d))
    assert out.status_code == 200 and out.headers["content-type"].startswith("text/csv")
    lines = out.text.splitlines()
    assert len(lines) == 3 and child in out.text and "https://x.example/m" in out.text
    # Re-importing the export changes nothing but counts updates.
    again = client.post("/asset-csv", content=out.text, headers=csv_h)
    assert again.json() == {"created": 0, "updated": 2}

    def count() -> int:
        return int(db.execute("select count(*) from assets where site = %s", (site,)).fetchone()[0])

    before = count()
    # Bad rows: unknown parent (row 3), bad criticality (row 2), bad latitude: each refused
    # with the row and field named, and the good rows before them not written.
    for body, row, field in (
        (f"asset,site,parent\n{site}-new1,{site},\n{site}-new2,{site},ghost\n", 3, "parent"),
        (f"asset,site,criticality\n{site}-new3,{site},Z\n", 2, "criticality"),
        (f"asset,site,lat\n{site}-new4,{site},1\n{site}-new5,{site},north\n", 3, "lat"),
        (f"asset,site,colour\n{site}-x,{site},red\n", None, "header"),
    ):
        r = client.post("/asset-csv", content=body, headers=csv_h)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert field in detail and (row is None or f"row {row}" in detail), detail
        assert count() == before


def test_ingest_drafts_and_criticality_raises_priority(client, tokens, db) -> None:
    d, integ = tokens["dispatcher"], tokens["integration"]
    name = f"draft-{uid()}"
    r = client.post("/anomalies", json=anomaly(name, asset_class="pump"), headers=auth(integ))
    assert r.status_code == 201 and r.json()["priority"] == "P2"
    drafts = client.get("/assets?status=draft", headers=auth(d)).json()
    assert name in {a["asset"] for a in drafts}
    # The team completes the draft and marks it A-critical: the next finding is one step up.
    r = client.patch(
        f"/assets/{name}", json={"status": "active", "criticality": "A"}, headers=auth(d)
    )
    assert r.status_code == 200
    crit = f"crit-{uid()}"
    _asset(client, d, asset=crit, criticality="A", asset_class="pump", lat=52.0, lon=4.0)
    r = client.post("/anomalies", json=anomaly(crit), headers=auth(integ))
    assert r.status_code == 201 and r.json()["priority"] == "P1"  # warning is P2, A makes P1
    detail = client.get(f"/tickets/{r.json()['ticket_id']}", headers=auth(d)).json()
    assert "criticality A" in detail["routing"][0]["explanation"]


def test_meters_from_running_telemetry_and_manual_readings(app, client, tokens, db, clock) -> None:
    d = tokens["dispatcher"]
    name = f"run-{uid()}"
    assert _asset(client, d, asset=name).status_code == 201
    t0 = clock.now() - timedelta(hours=3)

    def put(minutes: list[int], value: float) -> None:
        with db.transaction():
            for m in minutes:
                db.execute(
                    "insert into telemetry (time, asset, metric, value) values (%s, %s,"
                    " 'running', %s)",
                    (t0 + timedelta(minutes=m), name, value),
                )

    # Running 0..60 min in 1-min samples, stopped from 61 (the minute 60..61 counts: it ran
    # until seen stopped) to 70, then a silent hour (not counted), then running 131..140 (a
    # second start, 9 more minutes).
    put(list(range(0, 61)), 1.0)
    put(list(range(61, 71)), 0.0)
    app.state.maintenance_scan()
    meters = {
        m["meter"]: m["value"] for m in client.get(f"/assets/{name}/meters", headers=auth(d)).json()
    }
    assert abs(meters["running_hours"] - 61 / 60) < 1e-9 and meters["starts"] == 0
    put(list(range(131, 141)), 1.0)
    app.state.maintenance_scan()
    app.state.maintenance_scan()  # nothing new: nothing counted twice
    meters = {
        m["meter"]: m["value"] for m in client.get(f"/assets/{name}/meters", headers=auth(d)).json()
    }
    assert abs(meters["running_hours"] - (61 + 9) / 60) < 1e-9 and meters["starts"] == 1
    # Manual readings: forwards is fine, backwards is a 422 naming the field.
    r = client.post(
        f"/assets/{name}/meters", json={"meter": "running_hours", "value": 5}, headers=auth(d)
    )
    assert r.status_code == 201
    r = client.post(
        f"/assets/{name}/meters", json={"meter": "running_hours", "value": 4}, headers=auth(d)
    )
    assert r.status_code == 409 and "value" in r.json()["detail"]
    r = client.post(
        f"/assets/{name}/meters", json={"meter": "Bad Name", "value": 4}, headers=auth(d)
    )
    assert r.status_code == 422


def _forewarn(dsn: str, *args: str) -> Any:
    """The real ``forewarn assets`` command, as a user runs it."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "forewarn", "assets", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FOREWARN_DATABASE__DSN": dsn, "COLUMNS": "200"},
        timeout=60,
    )


def test_cli_import_export_show_and_a_bad_row(dsn, tmp_path, db) -> None:
    site = f"cli{uid()}"
    good = tmp_path / "good.csv"
    good.write_text(f"asset,site,level,criticality\n{site}-L1,{site},line,C\n")
    r = _forewarn(dsn, "import", str(good))
    assert r.returncode == 0 and "1 created" in r.stdout, r.stderr
    r = _forewarn(dsn, "export", "--site", site)
    assert r.returncode == 0 and f"{site}-L1,{site}" in r.stdout
    r = _forewarn(dsn, "show", f"{site}-L1")
    assert r.returncode == 0 and "criticality" in r.stdout
    r = _forewarn(dsn, "list", "--site", site)
    assert r.returncode == 0 and f"{site}-L1" in r.stdout
    # A bad row: exit 2 with one line naming row and field; nothing of the file written.
    bad = tmp_path / "bad.csv"
    bad.write_text(f"asset,site,parent\n{site}-M1,{site},{site}-L1\n{site}-M2,{site},nope\n")
    r = _forewarn(dsn, "import", str(bad))
    assert r.returncode == 2 and "row 3" in r.stderr and "parent" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    n = db.execute("select count(*) from assets where asset = %s", (f"{site}-M1",)).fetchone()
    assert n[0] == 0


def test_concurrent_first_derivations_count_once(client, tokens, db, clock, dsn) -> None:
    """Six connections released together derive the same new asset (no watermark yet):
    the hours are counted once, not six times."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    import psycopg
    from psycopg.rows import dict_row

    from ticketing.cmms import meters
    from ticketing.store import Tx

    name = f"race-{uid()}"
    assert _asset(client, tokens["dispatcher"], asset=name).status_code == 201
    db.execute(
        "insert into telemetry (time, asset, metric, value) select %s + make_interval(mins => g),"
        " %s, 'running', 1.0 from generate_series(0, 120) g",
        (clock.now() - timedelta(hours=3), name),
    )
    barrier = threading.Barrier(6)

    def derive(_: int) -> None:
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            barrier.wait()
            with conn.transaction():
                meters.derive_asset(Tx(conn, datetime.now(UTC)), name)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(derive, range(6)))
    got = db.execute(
        "select value from asset_meters where asset = %s and meter = 'running_hours'", (name,)
    ).fetchone()
    assert got is not None and abs(got[0] - 2.0) < 1e-9, got


def test_an_asset_with_downtime_or_a_pm_plan_is_retired_not_deleted(client, tokens) -> None:
    """Found by the schema fuzzer: the foreign key answered 422 instead of this 409."""
    d = tokens["dispatcher"]
    asset = _asset(client, d).json()["asset"]
    body = {"started_at": "2026-01-05T08:00:00Z", "ended_at": "2026-01-05T09:00:00Z"}
    assert client.post(f"/assets/{asset}/downtime", json=body, headers=auth(d)).status_code == 201
    r = client.delete(f"/assets/{asset}", headers=auth(d))
    assert r.status_code == 409 and "downtime" in r.json()["detail"]
    assert client.get(f"/assets/{asset}", headers=auth(d)).status_code == 200
