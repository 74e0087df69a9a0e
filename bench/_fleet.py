"""One fleet-scale trial: a fleet of N devices at 1 Hz through the whole pipeline.

Everything is a real process, started as a user would start it: the simulator serving the
fleet (Modbus TCP read by one gateway per site, or MQTT-native devices), a private
Mosquitto, ``forewarn ingest|detectors|ticketing run`` and a PostgreSQL cluster of the
benchmark's own (so its CPU can be counted). A sampler reads, every few seconds, how far
each stage is behind the wall clock and how much CPU each process tree used.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml

from bench.sim_modbus import free_base
from forewarn import db as fdb
from forewarn import mqtt as fmqtt
from forewarn import yamlsafe
from forewarn.demo_edges import ingest_env, opcua_gateways
from forewarn.settings import MqttSettings, deep_merge
from forewarn.testing import Broker, free_port
from gateway.devicemap import config_from_map
from tests.pipeline_support import Pipeline, service_env

CLASSES = {  # asset class -> (vendor profile, id prefix)
    "centrifugal_pump": ("acme_centrifugal_pump", "P"),
    "electric_motor": ("voltra_electric_motor", "M"),
    "air_compressor": ("boreas_air_compressor", "C"),
    "chiller": ("polar_chiller", "H"),
}
SITES = ("east", "west")
WARMUP_ALARM = 120  # samples: alarms (and so tickets) can happen within the run
TICK = os.sysconf("SC_CLK_TCK")


def scenario(n: int, seconds: int, degrading: int, batch: int = 10) -> str:
    """N devices over two sites and four classes at 1 Hz, ``degrading`` of them wearing out."""
    per = max(1, n // (len(SITES) * len(CLASSES)))
    fleet, degr = [], []
    for site in SITES:
        for cls, (profile, letter) in CLASSES.items():
            fleet.append(
                f"  - {{site: {site}, asset_class: {cls}, count: {per}, profile: {profile}, "
                f"prefix: {site}-{letter}}}"
            )
    pumps = [f"{SITES[i % 2]}-P{i // 2 + 1:03d}" for i in range(min(degrading, 2 * per))]
    for asset in pumps:
        degr.append(f"  - {{asset: {asset}, mode: bearing_wear, onset: 2m, failure_after: 8m}}")
    sites = ", ".join(f"{{id: {s}, lat: 50, lon: {8 + i}}}" for i, s in enumerate(SITES))
    return (
        f"name: fleet{n}\nseed: 7\nduration: {seconds}s\nsample_period_s: 1\nbatch_samples: {batch}\n"
        f"sites: [{sites}]\nfleet:\n"
        + "\n".join(fleet)
        + "\n"
        + ("degradations:\n" + "\n".join(degr) + "\n" if degr else "")
    )


def detector_config(path: Path) -> Path:
    """The shipped detector configuration with the alarm warm-up cut to two minutes.

    The scoring work per sample is the shipped one; only the alarm latch may fire sooner,
    so that anomaly events and tickets flow while the fleet runs.
    """
    from detectors.configuration import DEFAULT_FILE

    data = yamlsafe.load(DEFAULT_FILE.read_text())
    data["defaults"] = deep_merge(data["defaults"], {"alarm": {"warmup": WARMUP_ALARM}})
    for cls, body in (data.get("classes") or {}).items():
        if isinstance(body, dict) and "alarm" in body:
            data["classes"][cls] = deep_merge(body, {"alarm": {"warmup": WARMUP_ALARM}})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def tree_cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process and all its descendants."""
    kids = _children()
    out: dict[str, float] = {}
    for name, pid in pids.items():
        total, todo = 0.0, [pid]
        while todo:
            p = todo.pop()
            total += _cpu_s(p)
            todo.extend(kids.get(p, []))
        out[name] = total
    return out


@dataclass
class Sample:
    t: float  # s since the window opened (negative during the warm-up)
    telemetry_lag_s: float | None  # wall clock minus the newest stored sample time
    detector_lag_s: float | None  # at the last checkpoint (every 60 s): its time minus the
    # time of the last sample scored
    ingest_pending: int | None
    ingest_messages: int | None
    broker_stored: int | None
    gateway_buffer: int
    cpu: dict[str, float]


@dataclass
class Trial:
    """Runs one fleet size; ``run()`` returns the figures of its measurement window."""

    n: int
    seconds: int
    edge: str  # one of EDGES: "modbus" or "opcua" (simulator -> gateways -> broker),
    # "mqtt" (MQTT-native devices) or "sparkplug" (Sparkplug B edge nodes -> ingest)
    cluster_dsn: str
    postmaster: int
    home: Path
    warmup_s: int = 60
    period_s: float = 5.0
    samples: list[Sample] = field(default_factory=list)
    gateway_status: dict[str, dict[str, float]] = field(default_factory=dict)
    broker_stored: int | None = None

    def run(self) -> dict[str, Any]:
        home = self.home / f"n{self.n}-{secrets.token_hex(2)}"
        home.mkdir(parents=True)
        name = f"fleet_{self.n}_{secrets.token_hex(2)}"
        dsn = fdb.create_database(self.cluster_dsn, name)
        fdb.migrate(dsn)
        broker = Broker(home=home / "mqtt").start()
        env = service_env(
            dsn,
            broker.url,
            f"fleet{self.n}",
            FOREWARN_LOG_LEVEL="INFO",
            FOREWARN_DETECTORS__CONFIG=str(detector_config(home / "detectors.yaml")),
            **ingest_env(self.edge),
        )
        p = Pipeline(env=env, logs=home)
        monitor = fmqtt.paho_client(MqttSettings(url=broker.url), f"fleet-monitor-{self.n}")
        try:
            p.start_services()
            self._watch(monitor, broker)
            self._start_edge(p, home)
            return self._measure(p, dsn, broker)
        finally:
            with contextlib.suppress(Exception):
                monitor.disconnect()
                monitor.loop_stop()
            p.stop()
            broker.kill()
            with contextlib.suppress(Exception):
                fdb.drop_database(self.cluster_dsn, name)

    def _watch(self, client: Any, broker: Broker) -> None:
        """Follow the broker's stored-message count and the gateways' status messages."""

        def on_message(c: Any, ud: Any, msg: Any) -> None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                if msg.topic.startswith("$SYS/"):
                    self.broker_stored = int(msg.payload)
                else:
                    body = json.loads(msg.payload)
                    self.gateway_status[body["gateway"]] = body.get("metrics", {})

        client.on_message = on_message
        fmqtt.connect_paho(client, MqttSettings(url=broker.url))
        client.subscribe(
            [("$SYS/broker/store/messages/count", 0), ("forewarn/v1/+/gateways/+/status", 0)]
        )

    def _start_edge(self, p: Pipeline, home: Path) -> None:
        scn = home / "fleet.yaml"
        degrading = max(2, self.n // 100)
        total = self.warmup_s + self.seconds + 120
        # MQTT-native devices and Sparkplug edge nodes publish every reading as it is read
        # (DDATA by exception); the gateways batch for the Modbus and OPC UA ones.
        batch = 1 if self.edge in ("mqtt", "sparkplug") else 10
        scn.write_text(scenario(self.n, total, degrading, batch=batch))
        common = ("sim", "run", str(scn), "--speed", "1", "--start", "now")
        if self.edge in ("mqtt", "sparkplug"):
            p.background("sim", *common, f"--{self.edge}")
            return
        if self.edge == "opcua":
            port = free_port()
            # The gateways sample every second, as the Modbus ones poll.
            configs = opcua_gateways(
                scn,
                home / "opcua",
                port,
                sampling_interval_ms=1000.0,
                publishing_interval_ms=1000.0,
            )
            for site, path in configs.items():
                p.background(f"gateway-{site}", "gateway", "run", str(path))
            p.background("sim", *common, "--opcua", "--opcua-port", str(port))
            return
        devmap = home / "devices.json"
        ports = -(-self.n_devices // 247)  # the simulator puts 247 unit ids on a port
        p.background(
            "sim", *common, "--modbus", "--base-port", str(free_base(ports)),
            "--device-map", str(devmap),
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not devmap.exists() or not devmap.read_text().rstrip().endswith("]"):
            assert p.alive("sim") and time.monotonic() < deadline, p.tail("sim")
            time.sleep(0.2)
        entries = json.loads(devmap.read_text())
        for site in SITES:
            cfg = config_from_map(
                entries,
                gateway=f"gw-{site}",
                site=site,
                poll_period_s=1.0,
                buffer_path=str(home / f"gw-{site}.sqlite"),
            )
            path = home / f"gw-{site}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            p.background(f"gateway-{site}", "gateway", "run", str(path))

    def _pids(self, p: Pipeline, broker: Broker) -> dict[str, int]:
        out = {name: proc.pid for name, proc in p.procs.items() if proc.poll() is None}
        if broker.proc is not None:
            out["mosquitto"] = broker.proc.pid
        out["postgres"] = self.postmaster
        return out

    def _measure(self, p: Pipeline, dsn: str, broker: Broker) -> dict[str, Any]:
        t_open = time.monotonic() + self.warmup_s
        t_close = t_open + self.seconds
        wall_open = datetime.now(UTC).timestamp() + self.warmup_s
        with psycopg.connect(dsn, autocommit=True) as conn:
            while (now := time.monotonic()) < t_close:
                self.samples.append(self._sample(conn, now - t_open, self._pids(p, broker)))
                dead = [n for n in p.procs if not p.alive(n)]
                if dead:
                    return self._result(conn, p, wall_open, failed=f"{dead} exited")
                time.sleep(max(0.0, self.period_s - (time.monotonic() - now)))
            self.samples.append(
                self._sample(conn, time.monotonic() - t_open, self._pids(p, broker))
            )
            return self._result(conn, p, wall_open, wall_open + self.seconds)

    def _sample(self, conn: psycopg.Connection[Any], t: float, pids: dict[str, int]) -> Sample:
        row = conn.execute(
            "select extract(epoch from now() - max(time))::float8 from telemetry"
            " where time > now() - interval '10 minutes'"
        ).fetchone()
        det = conn.execute(
            "select max(extract(epoch from saved_at - last_ts))::float8 from detector_checkpoints"
            " where saved_at > now() - interval '75 seconds'"
        ).fetchone()
        pend = conn.execute(
            "select sum(pending)::int, sum(messages)::bigint from ingest_metrics"
        ).fetchone()
        buffered = sum(int(m.get("buffer_samples", 0)) for m in self.gateway_status.values())
        return Sample(
            t=round(t, 1),
            telemetry_lag_s=row[0] if row else None,
            detector_lag_s=det[0] if det else None,
            ingest_pending=pend[0] if pend else None,
            ingest_messages=pend[1] if pend else None,
            broker_stored=self.broker_stored,
            gateway_buffer=buffered,
            cpu=tree_cpu(pids),
        )

    def _result(
        self,
        conn: psycopg.Connection[Any],
        p: Pipeline,
        wall_open: float,
        wall_close: float | None = None,
        failed: str | None = None,
    ) -> dict[str, Any]:
        window = [s for s in self.samples if s.t >= 0]
        out: dict[str, Any] = {"fleet": self.n, "edge": self.edge, "seconds": self.seconds}
        if failed or len(window) < 4 or wall_close is None:
            out.update(sustained=False, why=failed or "too few samples", tails=_tails(p))
            return out
        # Let the tail of the window reach the database before counting it.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            newest = conn.execute("select extract(epoch from max(time))::float8 from telemetry")
            row = newest.fetchone()
            if row and row[0] and row[0] >= wall_close + 2:
                break
            time.sleep(1)
        counts = conn.execute(
            "select count(distinct (asset, time)), count(*) from telemetry"
            " where time >= to_timestamp(%s) and time < to_timestamp(%s)",
            (wall_open, wall_close),
        ).fetchone()
        assets = conn.execute("select count(distinct asset) from telemetry").fetchone()
        tickets = conn.execute(
            "select count(*), percentile_cont(0.5) within group (order by lat),"
            " max(lat) from (select extract(epoch from t.created_at - min(a.time)) as lat"
            " from tickets t join anomalies a on a.asset = t.asset and a.state = 'open'"
            " and a.time <= t.created_at where t.source = 'predictive' group by t.id) x"
        ).fetchone()
        anomalies = conn.execute("select count(*) from anomalies where state = 'open'").fetchone()
        dead = conn.execute("select count(*) from dead_letters").fetchone()
        sample_times, rows = (counts or (0, 0))[:2]
        first, last = window[0], window[-1]
        span = last.t - first.t
        cpu = {k: (last.cpu.get(k, 0.0) - first.cpu.get(k, 0.0)) / span for k in last.cpu}
        tele = _lag(window, "telemetry_lag_s")
        detl = _lag(window, "detector_lag_s")
        ratio = sample_times / (self.n_devices * self.seconds)
        broker_growth = _growth(window, "broker_stored")
        buffer_growth = _growth(window, "gateway_buffer")
        checks = {
            "every device at 1 Hz (>= 0.97 of expected samples)": ratio >= 0.97,
            "telemetry lag not growing (end <= start + 5 s, end < 30 s)": tele["ok"],
            "detector lag not growing (end <= start + 10 s, end < 60 s)": detl["ok"],
            "broker queue not growing": broker_growth <= 2000,
            "gateway buffers not growing": buffer_growth <= 2000,
        }
        out.update(
            devices=self.n_devices,
            assets_stored=assets[0] if assets else 0,
            sample_times=sample_times,
            rows=rows,
            samples_per_s=sample_times / self.seconds,
            rows_per_s=rows / self.seconds,
            messages_per_s=((last.ingest_messages or 0) - (first.ingest_messages or 0)) / span,
            at_1hz_ratio=round(ratio, 4),
            telemetry_lag=tele,
            detector_lag=detl,
            broker_queue_growth=broker_growth,
            gateway_buffer_growth=buffer_growth,
            cpu_cores=cpu,
            cpu_total=sum(cpu.values()),
            anomalies_open=anomalies[0] if anomalies else 0,
            predictive_tickets=tickets[0] if tickets else 0,
            alarm_to_ticket_s_p50=tickets[1] if tickets else None,
            alarm_to_ticket_s_max=tickets[2] if tickets else None,
            dead_letters=dead[0] if dead else None,
            checks=checks,
            sustained=all(checks.values()),
            series=[(s.t, s.telemetry_lag_s, s.detector_lag_s, s.broker_stored) for s in window],
        )
        return out

    @property
    def n_devices(self) -> int:
        return max(1, self.n // (len(SITES) * len(CLASSES))) * len(SITES) * len(CLASSES)


def _lag(window: list[Sample], attr: str) -> dict[str, Any]:
    """Median lag over the first and the last fifth of the window, and its maximum."""
    values = [(s.t, getattr(s, attr)) for s in window if getattr(s, attr) is not None]
    if len(values) < 2:
        return {"ok": False, "start": None, "end": None, "max": None}
    k = max(1, len(values) // 5)
    start = statistics.median(v for _, v in values[:k])
    end = statistics.median(v for _, v in values[-k:])
    grace, limit = (5.0, 30.0) if attr == "telemetry_lag_s" else (10.0, 60.0)
    return {
        "ok": end <= start + grace and end < limit,
        "start": round(start, 2),
        "end": round(end, 2),
        "max": round(max(v for _, v in values), 2),
    }


def _growth(window: list[Sample], attr: str) -> int:
    values = [getattr(s, attr) for s in window if getattr(s, attr) is not None]
    if len(values) < 2:
        return 0
    k = max(1, len(values) // 5)
    return int(statistics.median(values[-k:]) - statistics.median(values[:k]))


def _tails(p: Pipeline) -> dict[str, str]:
    return {n: p.tail(n, 8) for n in p.procs}
