"""Poll one Modbus TCP device on a fixed period, independent of every other device.

Each device runs in its own task with its own pymodbus client, timeout and backoff, so a
dead, slow or misbehaving device costs only its own task time. Faults are classified:
no connection or no answer -> ``offline``; Modbus exception codes, short or garbage
answers -> ``degraded`` with the values that did decode still published.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from forewarn.registers import ReadRequest
from gateway.config import Device
from gateway.health import DeviceHealth

log = logging.getLogger("forewarn.gateway.poller")
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we report errors per device

SampleSink = Callable[[str, datetime, dict[str, float], str | None], None]


class ReadFailed(Exception):
    """One read of a poll failed; ``fatal`` when the device did not answer at all."""

    def __init__(self, reason: str, fatal: bool = False) -> None:
        super().__init__(reason)
        self.fatal = fatal


def client_for(device: Device) -> AsyncModbusTcpClient:
    # reconnect_delay=0: we reconnect ourselves, with our own backoff and status.
    return AsyncModbusTcpClient(
        device.host,
        port=device.port,
        timeout=device.timeout_s,
        retries=device.retries,
        reconnect_delay=0,
        name=device.id,
    )


async def read(client: AsyncModbusTcpClient, req: ReadRequest, unit: int) -> list[int | bool]:
    """One coalesced read; raises ReadFailed naming what went wrong."""
    fn = {
        "coil": client.read_coils,
        "discrete": client.read_discrete_inputs,
        "holding": client.read_holding_registers,
        "input": client.read_input_registers,
    }[req.kind]
    where = f"{req.kind} {req.address}+{req.count}"
    try:
        rr: Any = await fn(req.address, count=req.count, device_id=unit)
    except (ModbusException, OSError, TimeoutError) as exc:
        raise ReadFailed(f"{where}: {exc}", fatal=True) from None
    if rr.isError():
        code = getattr(rr, "exception_code", None)
        raise ReadFailed(f"{where}: Modbus exception code {code}")
    words: list[int | bool] = list(rr.bits if req.kind in ("coil", "discrete") else rr.registers)
    if len(words) < req.count:
        raise ReadFailed(f"{where}: answer has {len(words)} values, expected {req.count}")
    return words[: req.count]


def to_metrics(req: ReadRequest, words: list[int | bool]) -> tuple[dict[str, float], int]:
    """Decoded telemetry metrics of one read and the number of points decoded."""
    out: dict[str, float] = {}
    for name, value in req.decode(words).items():
        point = next(p for p in req.points if p.name == name)
        if point.metric is None or isinstance(value, str):
            continue
        number = float(value)
        if math.isfinite(number):  # NaN = the device's "no reading" marker
            out[point.metric] = number
    return out, len(req.points)


async def poll_once(
    client: AsyncModbusTcpClient, device: Device
) -> tuple[dict[str, float], int, list[ReadFailed]]:
    """Every read of a device once: (metrics, points decoded, failures)."""
    values: dict[str, float] = {}
    points = 0
    failures: list[ReadFailed] = []
    for req in device.reads:
        try:
            words = await read(client, req, device.unit_id)
            got, n = to_metrics(req, words)
        except ReadFailed as exc:
            failures.append(exc)
            if exc.fatal:  # no answer: the other reads would only wait out their timeouts
                break
            continue
        except (ValueError, ArithmeticError) as exc:  # garbage that does not decode
            failures.append(ReadFailed(f"{req.kind} {req.address}: cannot decode: {exc}"))
            continue
        values.update(got)
        points += n
    return values, points, failures


class Poller:
    """The task of one device: connect, poll on period, back off, report health."""

    def __init__(
        self,
        device: Device,
        health: DeviceHealth,
        sink: SampleSink,
        *,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.device = device
        self.health = health
        self.sink = sink
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.stopping = False

    def stop(self) -> None:
        """Ask the task to end. Cancellation alone is not enough on Python 3.11, whose
        ``asyncio.wait_for`` (used inside pymodbus) can swallow a cancel that races with
        an answer."""
        self.stopping = True

    async def run(self) -> None:
        dev = self.device
        loop = asyncio.get_running_loop()
        client = client_for(dev)
        backoff = self.backoff_min_s
        next_tick = loop.time()
        try:
            while not self.stopping:
                if not client.connected:
                    ok = await client.connect()
                    if not ok:
                        self.health.down(f"cannot connect to {dev.host}:{dev.port}")
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, self.backoff_max_s)
                        next_tick = loop.time()
                        continue
                    self.health.reconnects += 1
                ts = datetime.now(UTC)
                started = loop.time()
                try:
                    values, points, failures = await poll_once(client, dev)
                except Exception as exc:  # a library surprise must not end this device's task
                    log.exception("%s: unexpected error while polling", dev.id)
                    values, points = {}, 0
                    failures = [ReadFailed(f"unexpected {type(exc).__name__}: {exc}", fatal=True)]
                    client.close()
                self.health.timed(loop.time() - started)
                if values:
                    self.sink(dev.asset, ts, values, dev.asset_class)
                if not failures:
                    self.health.ok(points)
                    backoff = self.backoff_min_s
                elif points:
                    self.health.partial(points, str(failures[0]))
                elif all(f.fatal for f in failures):
                    self.health.polls += 1
                    self.health.down(str(failures[0]))
                else:
                    self.health.partial(0, str(failures[0]))
                    self.health.state = "degraded"
                if failures and not client.connected:
                    client.close()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    next_tick = loop.time()
                    continue
                next_tick += dev.poll_period_s
                now = loop.time()
                if next_tick < now:  # overran: skip missed ticks, never burst to catch up
                    self.health.overruns += 1
                    next_tick = now + dev.poll_period_s - (now - next_tick) % dev.poll_period_s
                await asyncio.sleep(next_tick - now)
        finally:
            client.close()
