"""Sparkplug B messages in, writer items out: births, aliases, seq, deaths, rebirths.

One parser thread calls ``handle`` in arrival order, which Sparkplug needs (seq and alias
state are per edge node), so the intake holds no locks. Rows are produced by converting a
message to the contract's ``TelemetryBatch`` (the model JSON messages are validated
against: ids, metric names, finite numbers) and applying the JSON intake's time window.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from forewarn.contract import DeviceStatus, GatewayStatus, TelemetryBatch, decode, encode, topics
from forewarn.errors import ContractError
from forewarn.settings import SparkplugSettings
from ingest.sparkplug import proto
from ingest.sparkplug.echo import Echoes
from ingest.sparkplug.model import Birth, Event, Node, SpAccepted, Table
from ingest.validate import Accepted, Policy, Rejected

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, int, bool], None]  # topic, payload, qos, retain
_BAD = re.compile(r"[^A-Za-z0-9_.-]")
CHUNK = 10_000  # contract.MAX_SAMPLES


class SparkplugIntake:
    """Decode Sparkplug B messages into ``Accepted``/``Rejected`` items; never raises."""

    def __init__(
        self,
        cfg: SparkplugSettings,
        policy: Policy,
        publish: Publish | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.policy = policy
        self.publish = publish
        self.clock = clock
        self.nodes: dict[tuple[str, str], Node] = {}
        self.counts: Counter[str] = Counter()
        self._last_rebirth: dict[tuple[str, str], float] = {}
        self._names: dict[str, str] = {}
        self._skip = tuple(cfg.skip_prefixes)
        self._echoes = Echoes()  # what we republished, to drop when it comes back

    def filters(self) -> list[str]:
        """The subscriptions: the six message types, node- and device-level."""
        g = self.cfg.group_filter
        node = [f"{proto.NAMESPACE}/{g}/{t}/+" for t in ("NBIRTH", "NDATA", "NDEATH")]
        dev = [f"{proto.NAMESPACE}/{g}/{t}/+/+" for t in ("DBIRTH", "DDATA", "DDEATH")]
        return node + dev

    # -- entry points --------------------------------------------------------------------

    def handle(self, topic: str, raw: bytes) -> list[Accepted | Rejected]:
        """One message in arrival order; bad input becomes a Rejected with the reason."""
        try:
            return self._handle(topic, raw)
        except ContractError as exc:
            self.counts["rejected"] += 1
            return [Rejected(topic, raw, exc.reason)]
        except Exception as exc:  # a bug must not take the consumer down or lose the payload
            log.exception("sparkplug intake failed on %s", topic)
            return [Rejected(topic, raw, f"unexpected {type(exc).__name__}: {exc}")]

    def restore(self, births: Iterable[Birth]) -> None:
        """Rebuild alias tables from stored births (node births first), after a restart.

        The seq baseline is unknown until the next message, so none is checked for it.
        """
        for group, edge, device, raw in sorted(births, key=lambda b: (b[0], b[1], b[2])):
            try:
                payload = proto.decode(raw)
                if not device:
                    self.nodes[(group, edge)] = Node(_bdseq(payload), None, self._learn(payload))
                elif (node := self.nodes.get((group, edge))) is not None:
                    node.devices[device] = self._learn(payload)
            except ContractError as exc:
                log.warning("stored birth of %s/%s/%s unusable: %s", group, edge, device, exc)
        if self.nodes:
            log.info("sparkplug: restored births of %d edge nodes", len(self.nodes))

    # -- dispatch ------------------------------------------------------------------------

    def _handle(self, topic: str, raw: bytes) -> list[Accepted | Rejected]:
        parts = topic.split("/")
        if len(parts) not in (4, 5) or parts[0] != proto.NAMESPACE:
            raise ContractError(f"not a Sparkplug B topic: {topic!r}")
        group, kind, edge = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else ""
        if kind not in proto.MESSAGE_TYPES or (len(parts) == 5) != kind.startswith("D"):
            raise ContractError(f"not a Sparkplug B message type this intake takes: {topic!r}")
        if self.policy.max_bytes is not None and len(raw) > self.policy.max_bytes:
            raise ContractError(
                f"payload of {len(raw)} bytes is larger than the limit of "
                f"{self.policy.max_bytes} (ingest.max_payload_bytes)"
            )
        payload = proto.decode(raw)
        self.counts[kind] += 1
        key = (group, edge)
        if kind == "NBIRTH":
            return self._nbirth(topic, raw, payload, group, edge)
        if kind == "NDEATH":
            self._ndeath(payload, group, edge)
            return []
        node = self.nodes.get(key)
        if node is None or not node.online:
            self._rebirth(group, edge, f"{kind} before NBIRTH")
            state = "after its NDEATH" if node is not None else "before its NBIRTH"
            raise ContractError(f"{kind} from {group}/{edge} {state} (rebirth requested)")
        self._seq(node, payload, group, edge, kind)
        if kind == "DBIRTH":
            table = node.devices[device] = self._learn(payload)
            self._status(group, edge, node)
            return self._convert(
                topic, raw, payload, table, group, edge, device, birth=(group, edge, device, raw)
            )
        if kind == "DDEATH":
            if device in node.devices:
                node.devices[device].online = False
                self._status(group, edge, node)
            return []
        if kind == "NDATA":
            return self._convert(topic, raw, payload, node.table, group, edge, "")
        dev = node.devices.get(device)
        if dev is None or not dev.online:
            self._rebirth(group, edge, f"DDATA from {device} before DBIRTH")
            raise ContractError(
                f"DDATA from {group}/{edge}/{device} before its DBIRTH (rebirth requested)"
            )
        return self._convert(topic, raw, payload, dev, group, edge, device)

    def _nbirth(
        self, topic: str, raw: bytes, payload: Any, group: str, edge: str
    ) -> list[Accepted | Rejected]:
        bdseq = _bdseq(payload)
        if bdseq is None:
            raise ContractError("NBIRTH without a bdSeq metric")
        node = Node(bdseq, payload.seq if payload.HasField("seq") else 0, self._learn(payload))
        self.nodes[(group, edge)] = node  # devices must be born again (spec: DBIRTHs follow)
        self._last_rebirth.pop((group, edge), None)
        self._status(group, edge, node)
        return self._convert(
            topic, raw, payload, node.table, group, edge, "", birth=(group, edge, "", raw)
        )

    def _ndeath(self, payload: Any, group: str, edge: str) -> None:
        node = self.nodes.get((group, edge))
        bdseq = _bdseq(payload)
        if node is None or bdseq is None or bdseq != node.bdseq:
            # A will from an older session (its bdSeq is not the current birth's), or one
            # that cannot be matched at all: ignore it, as the specification says.
            self.counts["stale_deaths"] += 1
            return
        node.online = False
        for table in node.devices.values():
            table.online = False
        self._status(group, edge, node)

    def _seq(self, node: Node, payload: Any, group: str, edge: str, kind: str) -> None:
        if not payload.HasField("seq"):
            self._rebirth(group, edge, f"{kind} without seq")
            return
        seq = int(payload.seq)
        if node.seq is not None and seq != (node.seq + 1) % 256:
            self.counts["seq_gaps"] += 1
            log.info("sparkplug %s/%s: seq %d after %d", group, edge, seq, node.seq)
            self._rebirth(group, edge, f"seq {seq} after {node.seq}")
        node.seq = seq % 256

    # -- births and conversion -----------------------------------------------------------

    def _learn(self, payload: Any) -> Table:
        table = Table()
        for m in payload.metrics:
            if not m.name:
                raise ContractError("a birth metric without a name")
            if not m.HasField("datatype"):
                raise ContractError(f"birth metric {m.name!r} without a datatype")
            if m.HasField("alias"):
                if m.alias in table.aliases:
                    raise ContractError(f"alias {m.alias} used twice in one birth")
                table.aliases[int(m.alias)] = (m.name, int(m.datatype))
            table.types[m.name] = int(m.datatype)
            if m.name == self.cfg.class_metric and m.WhichOneof("value") == "string_value":
                table.asset_class = m.string_value
        return table

    def _convert(
        self,
        topic: str,
        raw: bytes,
        payload: Any,
        table: Table,
        group: str,
        edge: str,
        device: str,
        birth: Birth | None = None,
    ) -> list[Accepted | Rejected]:
        site = self.cfg.sites.get(group, group)
        topics.check_id(site, f"site (from group {group!r}; map it in sparkplug.sites)")
        names = {"group": group, "edge": edge, "device": device}
        asset = (self.cfg.asset if device else self.cfg.node_asset).format(**names)
        gateway = self.cfg.gateway.format(**names)
        now_ms = int(self.policy.now().timestamp() * 1000)
        default_ms = int(payload.timestamp) if payload.HasField("timestamp") else now_ms
        samples: dict[bool, dict[int, dict[str, float]]] = defaultdict(dict)
        events: list[Event] = []
        for m in payload.metrics:
            if m.name:
                name = m.name
                datatype = int(m.datatype) if m.HasField("datatype") else table.types.get(name)
            elif m.HasField("alias"):
                entry = table.aliases.get(int(m.alias))
                if entry is None:
                    self._rebirth(group, edge, f"unknown alias {m.alias}")
                    raise ContractError(
                        f"unknown alias {m.alias} for {group}/{edge}/{device or '(node)'}: "
                        "not in its birth certificate (rebirth requested)"
                    )
                name, datatype = entry
            else:
                raise ContractError("a metric with neither a name nor an alias")
            if datatype is None:
                raise ContractError(f"metric {name!r} has no datatype, here or in its birth")
            if name.startswith(self._skip):
                continue
            ms = m.timestamp if m.HasField("timestamp") else default_ms
            hist = bool(m.is_historical)
            if datatype in proto.NUMERIC:
                value = proto.number(m, datatype)
                if value is not None:
                    samples[hist].setdefault(ms, {})[self._metric(name)] = value
            elif datatype in proto.TEXTUAL:
                text = proto.text(m, datatype)
                if text is not None:
                    events.append(
                        (proto.ms_to_time(ms), asset, name, text.replace("\x00", ""), hist)
                    )
            else:
                self.counts["unsupported_metrics"] += 1
        self._check_times(events)
        out: list[Accepted | Rejected] = []
        seq = int(payload.seq) if payload.HasField("seq") else 0
        topics.check_id(asset, "asset")
        for hist, by_ms in sorted(samples.items()):
            stamps = sorted(by_ms)
            for i in range(0, len(stamps), CHUNK):
                part = stamps[i : i + CHUNK]
                # The contract's own model checks ids, metric names and numbers.
                batch = decode(
                    TelemetryBatch,
                    {
                        "asset": asset,
                        "seq": seq,
                        "historical": hist,
                        "gateway": gateway,
                        "asset_class": table.asset_class,
                        "samples": [
                            {"ts": proto.ms_to_time(ms), "values": by_ms[ms]} for ms in part
                        ],
                    },
                )
                oldest, newest = batch.samples[0].ts, batch.samples[-1].ts
                self._window(oldest, newest)
                rows = [(s.ts, asset, m, v) for s in batch.samples for m, v in s.values.items()]
                out.append(
                    SpAccepted(
                        topic=topic,
                        payload=raw,
                        site=site,
                        asset=asset,
                        asset_class=table.asset_class,
                        gateway=gateway,
                        rows=rows,
                        samples=len(batch.samples),
                        newest=newest,
                        oldest=oldest,
                        historical=hist,
                        v1=(topics.telemetry(site, asset), encode(batch))
                        if self.cfg.republish
                        else None,
                    )
                )
        if events or birth is not None:
            if out:
                first = out[0]
                assert isinstance(first, SpAccepted)
                first.events, first.births = events, [birth] if birth else []
            else:  # no rows: the writer stores only the events and the birth
                when = self.policy.now()
                out.append(
                    SpAccepted(
                        topic=topic,
                        payload=raw,
                        site=site,
                        asset=asset,
                        asset_class=table.asset_class,
                        gateway=None,
                        rows=[],
                        samples=0,
                        newest=when,
                        oldest=when,
                        events=events,
                        births=[birth] if birth else [],
                    )
                )
        return out

    def _metric(self, name: str) -> str:
        found = self._names.get(name)
        if found is None:
            found = self.cfg.metric_names.get(name) or _BAD.sub("_", name.replace("/", "."))
            if not found[:1].isalpha():
                found = "m_" + found
            found = self._names[name] = found[:64]
        return found

    def _check_times(self, events: list[Event]) -> None:
        if events:
            self._window(min(e[0] for e in events), max(e[0] for e in events))

    def _window(self, oldest: datetime, newest: datetime) -> None:
        """The JSON intake's time window (ingest.max_future_s / max_past_s)."""
        now = self.policy.now()
        if newest > now + self.policy.max_future:
            raise ContractError(
                f"timestamp {newest.isoformat()} is more than "
                f"{self.policy.max_future.total_seconds():.0f} s in the future"
            )
        if oldest < now - self.policy.max_past:
            raise ContractError(
                f"timestamp {oldest.isoformat()} is older than the accepted "
                f"{self.policy.max_past.total_seconds() / 86400:g} days"
            )

    # -- side effects: republished batches, rebirth requests and status -------------------

    def committed(self, items: list[Accepted | Rejected], dead: list[Rejected]) -> None:
        """After the commit: republish converted batches as v1 JSON for the detectors.

        The worker's own JSON subscription gets them back; ``echo`` drops those, so rows are
        not written twice (another worker of a shared group would write them idempotently).
        """
        if self.publish is None:
            return
        refused = {(r.topic, id(r.payload)) for r in dead}
        for i in items:
            if isinstance(i, SpAccepted) and i.v1 and (i.topic, id(i.payload)) not in refused:
                self._echoes.add(*i.v1)
                self.publish(i.v1[0], i.v1[1], 1, False)

    def echo(self, topic: str, raw: bytes) -> bool:
        """True (once) for a v1 message this intake republished itself: already stored."""
        return self._echoes.take(topic, raw)

    def _rebirth(self, group: str, edge: str, why: str) -> None:
        self.counts["rebirth_wanted"] += 1
        if not self.cfg.rebirth or self.publish is None:
            return
        now = self.clock()
        last = self._last_rebirth.get((group, edge))
        if last is not None and now - last < self.cfg.rebirth_interval_s:
            return
        self._last_rebirth[(group, edge)] = now
        ms = int(self.policy.now().timestamp() * 1000)
        self.publish(f"{proto.NAMESPACE}/{group}/NCMD/{edge}", proto.rebirth_request(ms), 0, False)
        self.counts["rebirth_requests"] += 1
        log.info("sparkplug %s/%s: rebirth requested (%s)", group, edge, why)

    def _status(self, group: str, edge: str, node: Node) -> None:
        """Births and deaths in the gateway status model (retained, like the gateway's)."""
        if not self.cfg.status or self.publish is None:
            return
        site = self.cfg.sites.get(group, group)
        names = {"group": group, "edge": edge}
        try:
            doc = GatewayStatus(
                gateway=self.cfg.gateway.format(**names, device=""),
                site=site,
                state="online" if node.online else "offline",
                ts=self.policy.now(),
                devices=[
                    DeviceStatus(
                        device=d,
                        asset=self.cfg.asset.format(**names, device=d),
                        state="online" if node.online and t.online else "offline",
                    )
                    for d, t in sorted(node.devices.items())
                ],
            )
        except ValidationError as exc:
            log.warning(
                "sparkplug %s/%s: no status (ids do not fit the contract): %s", group, edge, exc
            )
            return
        self.publish(topics.gateway_status(doc.site, doc.gateway), encode(doc), 1, True)


def _bdseq(payload: Any) -> int | None:
    for m in payload.metrics:
        if m.name == "bdSeq" and m.WhichOneof("value") in ("long_value", "int_value"):
            return int(getattr(m, m.WhichOneof("value")))
    return None
