"""The fleet engine: determinism, healthy bands, fault signatures, ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device_sim.classes import CLASSES, SIGNATURES
from device_sim.engine import Fleet
from device_sim.scenario import load_scenario

DAY_STEPS = 86400 // 300


def run(fleet: Fleet, steps: int) -> dict[str, np.ndarray]:
    hist: dict[str, list[np.ndarray]] = {c: [] for c in fleet.groups}
    for _ in range(steps):
        frame = fleet.step()
        for c, v in frame.values.items():
            hist[c].append(v.copy())
    return {c: np.stack(h) for c, h in hist.items()}  # (steps, assets, metrics)


def test_same_seed_same_data_and_seed_matters():
    sc = load_scenario("default")
    a = Fleet(sc)
    b = Fleet(sc, start=a.start)  # the daily cycle follows the clock: same start, same data
    ha, hb = run(a, 120), run(b, 120)
    for c in ha:
        np.testing.assert_array_equal(ha[c], hb[c])
    other = Fleet(sc.model_copy(update={"seed": sc.seed + 1}), start=a.start)
    hc = run(other, 120)
    assert not np.allclose(
        np.nan_to_num(ha["centrifugal_pump"]), np.nan_to_num(hc["centrifugal_pump"])
    )
    assert [e for e in a.truth()] == [e for e in b.truth()]


def test_healthy_assets_stay_within_bands(make_healthy):
    fleet = Fleet(make_healthy())
    hist = run(fleet, 7 * DAY_STEPS)
    for cls, h in hist.items():
        metrics = fleet.groups[cls].metrics
        running = h[:, :, 0] > 0.5
        assert 0.5 < running.mean() < 0.95, cls  # shift assets stop at night and weekends
        for name, (lo, hi) in CLASSES[cls].bands.items():
            x = h[:, :, metrics.index(name)][running]
            assert lo <= x.min() and x.max() <= hi, (cls, name, x.min(), x.max())
        stopped = ~running
        for name in ("current_l1_a", "speed_rpm", "power_kw"):
            assert np.all(h[:, :, metrics.index(name)][stopped] == 0.0), (cls, name)


def test_each_mode_moves_its_signals_monotonically_then_fails(make_degrading):
    scenario, ids = make_degrading(shape=1.0)
    fleet = Fleet(scenario)
    hist = run(fleet, 6 * DAY_STEPS)
    checked = 0
    for (cls, mode), asset in ids.items():
        _, i = fleet.where[asset]
        metrics = fleet.groups[cls].metrics
        h = hist[cls][:, i, :]
        running = h[:, 0] > 0.5
        assert running[: 5 * DAY_STEPS].all(), (asset, "must run until functional failure")
        assert not running[5 * DAY_STEPS :].any(), (asset, "must stop at functional failure")
        for metric, direction in SIGNATURES[cls][mode].items():
            x = h[:, metrics.index(metric)]
            daily = [float(np.mean(x[d * DAY_STEPS : (d + 1) * DAY_STEPS])) for d in range(5)]
            steps = np.diff(daily) * direction
            assert np.all(steps > 0), (asset, metric, daily)
            checked += 1
    assert checked == sum(len(m) for s in SIGNATURES.values() for m in s.values())


def test_degradation_accelerates_by_default(make_degrading):
    scenario, ids = make_degrading(shape=2.5)
    fleet = Fleet(scenario)
    hist = run(fleet, 5 * DAY_STEPS)
    _, i = fleet.where[ids[("electric_motor", "bearing_wear")]]
    vib = hist["electric_motor"][:, i, fleet.groups["electric_motor"].metrics.index("vib_x_mm_s")]
    daily = np.array([vib[d * DAY_STEPS : (d + 1) * DAY_STEPS].mean() for d in range(5)])
    rises = np.diff(daily[1:])
    assert np.all(np.diff(rises) > 0), daily  # each day's rise is larger than the last


def test_ground_truth_matches_injection():
    sc = load_scenario("default").model_copy(update={"sample_period_s": 300.0})
    fleet = Fleet(sc)
    truth = fleet.truth()
    degr = {(e.asset, e.mode): e for e in truth if e.kind == "degradation"}
    assert {(d.asset, d.mode) for d in sc.degradations} == set(degr)
    for d in sc.degradations:
        e = degr[(d.asset, d.mode)]
        assert (e.onset, e.failure) == (d.onset, d.onset + d.failure_after)
    power = [e for e in truth if e.mode == "power_loss"]
    assert {e.asset for e in power} == {a.id for a in fleet.assets if a.site == "south"}
    sensors = [e for e in truth if e.kind == "sensor"]
    assert sensors, "the default scenario has sensor faults"
    # Replay 3.5 days and check each injected condition in the data itself.
    steps = int(3.5 * 86400 / 300)
    hist = run(fleet, steps)
    t = np.arange(steps) * 300.0
    checked = 0
    for e in sensors:
        if e.end is None or e.end > t[-1]:
            continue
        cls, i = fleet.where[e.asset]
        x = hist[cls][:, i, fleet.groups[cls].metrics.index(e.metric)]
        inside = (t >= e.onset) & (t < e.end)
        if not inside.any():
            continue
        if e.mode == "dropout":
            assert np.isnan(x[inside]).all()
        else:
            stuck = x[inside]
            stuck = stuck[~np.isnan(stuck)]
            assert np.all(stuck == stuck[0])
        checked += 1
    assert checked >= 5
    trip = next(e for e in truth if e.mode == "trip")
    cls, i = fleet.where[trip.asset]
    inside = (t >= trip.onset) & (t < trip.end)
    assert np.all(hist[cls][inside, i, 0] == 0.0)


def test_power_loss_takes_devices_offline():
    sc = load_scenario("default").model_copy(update={"sample_period_s": 60.0})
    fleet = Fleet(sc)
    cut = next(f for f in sc.faults if f.fault == "power_loss")
    fleet.k = int(cut.at // 60)
    frame = fleet.step()
    for cls, g in fleet.groups.items():
        for i, a in enumerate(g.assets):
            assert frame.online[cls][i] == (a.site != "south")
    assert math.isclose(frame.t, cut.at)


@pytest.mark.parametrize("noise", [0.0, 3.0])
def test_noise_knob_is_respected(noise, make_healthy):
    sc = make_healthy(stops=0).model_copy(update={"noise": noise})
    hist = run(Fleet(sc), 50)
    v = hist["centrifugal_pump"][:, 0, CLASSES["centrifugal_pump"].metrics.index("voltage_v")]
    assert (np.std(v) == 0.0) == (noise == 0.0)
