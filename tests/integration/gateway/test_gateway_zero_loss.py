"""Store-and-forward: a broker outage and a gateway restart while offline lose nothing.

Ground truth is what the gateway polled (recorded as it enters the batcher); the consumer
side is a persistent QoS 1 subscription. After de-duplication on (asset, ts) every polled
sample must have arrived exactly once, per asset in poll order, and the ones polled while
the broker was down must be marked historical.
"""

from __future__ import annotations

import struct
import time
from datetime import datetime

import pytest
from gateway_kit import PUMP_POINTS, write_config, write_profile

from forewarn.contract import GatewayStatus, decode
from forewarn.settings import MqttSettings
from gateway.buffer import Buffer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _pump_server(modbus_server, speed: float):
    srv = modbus_server()
    hi, lo = struct.unpack(">HH", struct.pack(">f", speed))
    srv.data_bank.set_input_registers(0, [hi, lo, 215])
    srv.data_bank.set_discrete_inputs(0, [True])
    return srv


def _devices(tmp_path, modbus_server, n: int = 2) -> list[dict]:
    profile = write_profile(tmp_path / "pump.yaml", PUMP_POINTS)
    out = []
    for i in range(n):
        srv = _pump_server(modbus_server, 1000.0 + i)
        out.append(
            {
                "id": f"dev{i}",
                "host": "127.0.0.1",
                "port": srv.port,
                "profile": str(profile),
                "asset": f"pump-{i}",
            }
        )
    return out


def _check_exactly_once(produced, arrived, offline: list[tuple[float, float]]):
    """Return the number of duplicates; assert the rest."""
    first: dict[tuple[str, str], bool] = {}
    order: dict[str, list[str]] = {}
    for asset, ts, hist in arrived:
        if (asset, ts) not in first:
            first[(asset, ts)] = hist
            order.setdefault(asset, []).append(ts)
    assert set(first) == set(produced), (
        f"missing {len(set(produced) - set(first))}, unexpected {len(set(first) - set(produced))}"
    )
    for asset in order:
        polled = [ts for a, ts in produced if a == asset]
        assert order[asset] == polled, f"{asset}: samples arrived out of order"
    flagged = 0
    for (_asset, ts), hist in first.items():
        t = datetime.fromisoformat(ts).timestamp()
        if any(a + 0.3 < t < b - 0.3 for a, b in offline):
            assert hist, f"sample at {ts} was polled while offline but is not historical"
            flagged += 1
    return len(arrived) - len(first), flagged


def test_broker_outage_loses_nothing_and_marks_buffered_historical(
    tmp_path, modbus_server, mosquitto_factory, consumer_factory, gateway_factory
):
    broker = mosquitto_factory()
    s = MqttSettings(url=broker.url)
    consumer = consumer_factory(s, "zero-loss-consumer")
    cfg = write_config(tmp_path / "gw.yaml", _devices(tmp_path, modbus_server))
    gw = gateway_factory(cfg, s)
    time.sleep(1.5)
    down = time.time()
    broker.stop()
    time.sleep(2.5)
    assert gw.gateway is not None
    assert gw.gateway.buffer.depth()[1] > 0, "samples polled while offline are buffered"
    broker.start()
    up = time.time()
    time.sleep(1.5)
    gw.stop()
    produced = list(gw.produced)
    consumer.wait_for(set(produced))
    arrived = consumer.samples()
    dups, flagged = _check_exactly_once(produced, arrived, [(down, up)])
    assert flagged > 10, "the outage produced historical samples"
    live = [h for a, ts, h in arrived if datetime.fromisoformat(ts).timestamp() < down - 1.0]
    assert live and not any(live), "samples sent while connected are live"
    # The retained status of a cleanly stopped gateway says offline.
    last = decode(GatewayStatus, consumer.statuses[-1])
    assert last.state == "offline" and last.metrics["buffer_dropped_samples"] == 0
    print(f"produced {len(produced)} samples, {dups} duplicates, {flagged} historical")


def test_gateway_restart_while_offline_keeps_the_buffer(
    tmp_path, modbus_server, mosquitto_factory, consumer_factory, gateway_factory
):
    broker = mosquitto_factory()
    s = MqttSettings(url=broker.url)
    consumer = consumer_factory(s, "restart-consumer")
    cfg = write_config(tmp_path / "gw.yaml", _devices(tmp_path, modbus_server))
    first = gateway_factory(cfg, s)
    time.sleep(1.0)
    down = time.time()
    broker.stop()
    time.sleep(1.0)
    first.stop()  # gateway stops while the broker is unreachable
    second = gateway_factory(cfg, s)  # same buffer file
    assert second.gateway is not None
    assert second.gateway.buffer.depth()[1] > 0, "the buffer survived the restart"
    time.sleep(1.0)
    broker.start()
    up = time.time()
    time.sleep(1.5)
    second.stop()
    produced = first.produced + second.produced
    consumer.wait_for(set(produced))
    _dups, flagged = _check_exactly_once(produced, consumer.samples(), [(down, up)])
    assert flagged > 10
    # seq keeps counting across the restart (the counter lives in the buffer file).
    seqs = [b.seq for b in consumer.batches if b.asset == "pump-0"]
    assert sorted(set(seqs)) == list(range(max(seqs) + 1))


def test_full_buffer_drops_oldest_and_reports_it(
    tmp_path, modbus_server, mosquitto_factory, consumer_factory, gateway_factory
):
    broker = mosquitto_factory()
    s = MqttSettings(url=broker.url)
    consumer = consumer_factory(s, "drop-consumer")
    cfg = write_config(
        tmp_path / "gw.yaml",
        _devices(tmp_path, modbus_server, n=1),
        buffer={"path": str(tmp_path / "small.sqlite"), "max_batches": 10},
        batch={"max_samples": 5, "max_latency_s": 0.1},
    )
    broker.stop()
    gw = gateway_factory(cfg, s)
    assert gw.gateway is not None
    # more than 10 five-sample batches must be polled before the oldest go: about 2 s on a
    # quiet machine, longer on a loaded one (a fixed 2 s sleep failed a CI run)
    deadline = time.monotonic() + 30
    while gw.gateway.buffer.dropped()[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    dropped_batches, _ = gw.gateway.buffer.dropped()
    assert dropped_batches > 0
    broker.start()
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        with consumer.lock:
            got = [decode(GatewayStatus, p) for p in consumer.statuses]
        if got and got[-1].metrics.get("buffer_dropped_samples", 0) > 0:
            status = got[-1]
            break
        time.sleep(0.1)
    gw.stop()
    assert status is not None, "the drop is reported in the status message"
    assert status.metrics["buffer_dropped_batches"] >= dropped_batches
    produced = list(gw.produced)
    _, final_dropped = Buffer(tmp_path / "small.sqlite").dropped()  # persisted counters
    consumer.wait_for(set(produced[final_dropped:]))
    arrived = {(a, t) for a, t, _ in consumer.samples()}
    lost = [p for p in produced if p not in arrived]
    assert len(lost) == final_dropped, "every missing sample is a counted drop"
    assert lost == produced[:final_dropped], "the oldest were dropped, the newest kept"
