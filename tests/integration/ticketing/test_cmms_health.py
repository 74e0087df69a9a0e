"""The detectors' health index over the API (real app, real database): what the detector
service wrote with its checkpoints, latest and bucketed history; roles, unknown assets and
bad parameters answered with 403, 404 and 422, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ticketing_helpers import auth

from detectors import AssetDetector, load_config, store

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _write(db, asset: str, n: int, every_min: int = 10) -> None:
    """``n`` rows as the detectors write them: health falls 0.9 -> 0.6, a dip every 7th."""
    rows = []
    for i in range(n):
        h = 0.9 - 0.3 * i / max(1, n - 1) - (0.05 if i % 7 == 3 else 0.0)
        ttt = None if i < n // 2 else round(10.0 - 10.0 * i / n, 3)
        rows.append((asset, T0 + timedelta(minutes=every_min * i), "site-a", round(h, 4),
                     -0.1, ttt, i == n - 1, "running", T0 - timedelta(days=1), "w1"))  # fmt: skip
    with db.cursor() as cur:
        cur.executemany(
            """insert into asset_health (asset, ts, site, health, slope_per_day,
                   time_to_threshold_h, alarm, state, ref_to, worker)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            rows,
        )


def test_latest_and_bucketed_history(client, tokens, make_asset, db) -> None:
    asset = make_asset("centrifugal_pump")
    _write(db, asset, 3 * 144)  # three days at 10 minutes
    r = client.get(f"/assets/{asset}/health?hours=24&points=24", headers=auth(tokens["admin"]))
    assert r.status_code == 200, r.text
    body = r.json()
    last = T0 + timedelta(minutes=10 * (3 * 144 - 1))
    latest = body["latest"]
    assert datetime.fromisoformat(latest["ts"]) == last
    assert latest["health"] == 0.6 and latest["alarm"] is True and latest["state"] == "running"
    assert latest["ref_to"].startswith("2026-05-31") and latest["site"] == "site-a"
    hist = body["history"]
    assert 24 <= len(hist) <= 25  # hourly buckets over the day before the latest row
    assert all(p["health_min"] <= p["health"] for p in hist)
    assert any(p["health_min"] < p["health"] for p in hist)  # the dips show in the minimum
    stamps = [datetime.fromisoformat(p["ts"]) for p in hist]
    assert stamps == sorted(stamps) and stamps[0] >= last - timedelta(hours=25)
    assert hist[-1]["health"] == 0.6 and hist[-1]["alarm"] is True


def test_what_the_detector_service_writes_is_what_the_api_reads(
    client, tokens, make_asset, db
) -> None:
    asset = make_asset("fan")
    det = AssetDetector(asset, load_config().for_class("default"), site="site-a")
    for i in range(600):  # past the 300-sample warm-up
        det.update(T0.timestamp() + 60 * i, {"a": 10 + (i % 7) * 0.1, "b": 20 + (i % 5) * 0.2})
    store.save_checkpoints(db, [det], "w1")
    r = client.get(f"/assets/{asset}/health", headers=auth(tokens["dispatcher"]))
    assert r.status_code == 200, r.text
    latest = r.json()["latest"]
    o = det.outlook_now()
    assert latest["health"] == o.health and latest["slope_per_day"] == o.slope_per_day
    assert latest["state"] == "running" and latest["time_to_threshold_h"] is None
    assert len(r.json()["history"]) == 1


def test_roles_unknown_assets_and_bad_parameters(
    client, tokens, make_asset, make_engineer, engineer_token
) -> None:
    asset = make_asset("chiller")  # registered, no health recorded yet
    eng = engineer_token(make_engineer("health-reader"))
    r = client.get(f"/assets/{asset}/health", headers=auth(eng))
    assert r.status_code == 200 and r.json()["latest"] is None and r.json()["history"] == []
    r = client.get(f"/assets/{asset}/health", headers=auth(tokens["integration"]))
    assert r.status_code == 403 and "may not do this" in r.json()["detail"]
    assert client.get(f"/assets/{asset}/health").status_code == 401
    r = client.get("/assets/no-such-asset/health", headers=auth(tokens["admin"]))
    assert r.status_code == 404 and "no-such-asset" in r.json()["detail"]
    d = auth(tokens["dispatcher"])
    for query, field in (
        ("hours=0", "hours"),
        ("hours=-3", "hours"),
        ("hours=1e9", "hours"),
        ("hours=nan", "hours"),
        ("hours=soon", "hours"),
        ("points=0", "points"),
        ("points=100000", "points"),
        ("points=2.5", "points"),
    ):
        r = client.get(f"/assets/{asset}/health?{query}", headers=d)
        assert r.status_code == 422, (query, r.status_code, r.text)
        assert field in r.text
    r = client.get("/assets/bad name!/health", headers=d)
    assert r.status_code == 422 and "asset" in r.text
