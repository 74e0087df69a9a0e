"""Gateway configuration: which devices to poll, with which register map, sent where.

Validated at start: a bad key, a missing profile or a bad register map is refused with
file, line, key and reason (the register maps themselves are checked by
``forewarn.registers``, shared with the simulator). MQTT credentials come from the
settings/environment (``FOREWARN_MQTT__USERNAME``/``__PASSWORD``) or from environment
variables named here, never from the file itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError

from forewarn.contract.topics import ID_PATTERN, TELEMETRY_FILTER
from forewarn.registers import (
    Profile,
    ReadRequest,
    default_profiles_dir,
    load_profile,
    plan_profile_reads,
)
from forewarn.registers.source import (
    Problem,
    SourceError,
    key_name,
    load_yaml,
    validate_document,
)
from forewarn.settings import MqttSettings
from gateway.bridge import BridgeSpec
from gateway.opcua.config import OpcuaServer, OpcuaServerConfig, resolve_servers

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class GatewayConfigError(SourceError):
    """The gateway configuration file is refused."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Strict):
    """One Modbus TCP device; unset polling parameters come from its profile."""

    id: Id
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(502, ge=1, le=65535)
    profile: str = Field(
        min_length=1, description="profile file (relative to this config) or profile name"
    )
    asset: Id
    asset_class: Id | None = Field(None, description="default: the profile's asset class")
    unit_id: int | None = Field(None, ge=0, le=247)
    poll_period_s: float | None = Field(None, gt=0, le=3600)
    timeout_s: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=0, le=10)
    enabled: bool = True


class MqttOverride(_Strict):
    url: str | None = None
    username: str | None = None
    password_env: str | None = Field(
        None, description="environment variable holding this gateway's MQTT password"
    )


class BridgeConfig(_Strict):
    """A local broker whose MQTT-native devices are forwarded upstream via the buffer."""

    id: Id
    url: str = Field(description="the local broker, mqtt://host:port")
    username: str | None = None
    password_env: str | None = None
    topic: str = Field(TELEMETRY_FILTER, min_length=1, description="filter on the local broker")


class BatchConfig(_Strict):
    max_samples: int = Field(100, ge=1, le=10_000)
    max_latency_s: float = Field(1.0, gt=0, le=300)


class BufferConfig(_Strict):
    path: str = Field("gateway-buffer.sqlite", description="relative to this config file")
    max_batches: int = Field(100_000, ge=10, le=100_000_000)
    synchronous: str = Field("FULL", pattern=r"^(FULL|NORMAL)$")


class GatewayFile(_Strict):
    gateway: Id
    site: Id
    mqtt: MqttOverride = Field(default_factory=lambda: MqttOverride.model_validate({}))
    batch: BatchConfig = Field(default_factory=lambda: BatchConfig.model_validate({}))
    buffer: BufferConfig = Field(default_factory=lambda: BufferConfig.model_validate({}))
    status_period_s: float = Field(10.0, gt=0, le=3600)
    publish_window: int = Field(100, ge=1, le=1000, description="unacknowledged batches")
    ack_hold_s: float = Field(
        120.0,
        ge=0,
        le=86_400,
        description="keep PUBACKed batches this long and resend them after a reconnect;"
        " must exceed the broker's autosave_interval (a SIGKILLed broker loses what it"
        " acknowledged since its last save). 0: forget a batch on its PUBACK",
    )
    will_refresh_s: float = Field(
        60.0,
        ge=0.2,
        le=86_400,
        description="renew the last will (its ts and figures) by a planned reconnect this often",
    )
    devices: list[DeviceConfig] = Field(default_factory=list, max_length=5000)
    bridges: list[BridgeConfig] = Field(default_factory=list, max_length=100)
    opcua: list[OpcuaServerConfig] = Field(default_factory=list, max_length=1000)


@dataclass(frozen=True)
class Device:
    """A device ready to poll: its settings merged with its profile, reads planned."""

    id: str
    host: str
    port: int
    unit_id: int
    asset: str
    asset_class: str
    poll_period_s: float
    timeout_s: float
    retries: int
    profile: Profile
    reads: tuple[ReadRequest, ...]


@dataclass(frozen=True)
class GatewayConfig:
    file: str
    gateway: str
    site: str
    mqtt: MqttSettings
    batch: BatchConfig
    buffer_path: Path
    buffer_max_batches: int
    buffer_synchronous: str
    status_period_s: float
    publish_window: int
    devices: tuple[Device, ...]
    bridges: tuple[BridgeSpec, ...] = ()
    ack_hold_s: float = 120.0
    will_refresh_s: float = 60.0
    opcua: tuple[OpcuaServer, ...] = ()


def _resolve_profile(ref: str, base: Path) -> Path:
    path = Path(ref)
    if not path.is_absolute():
        path = base / path
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return default_profiles_dir() / f"{ref}.yaml"


def _mqtt(
    override: MqttOverride | BridgeConfig,
    base: MqttSettings,
    where: str,
    key: str,
    line: int,
) -> MqttSettings:
    data = base.model_dump()
    if override.url:
        data["url"] = override.url
    if override.username:
        data["username"] = override.username
    if override.password_env:
        secret = os.environ.get(override.password_env)
        if secret is None:
            raise GatewayConfigError(
                where,
                [Problem(f"{key}.password_env", f"${override.password_env} is not set", line)],
            )
        data["password"] = SecretStr(secret)
    elif base.password is not None:
        data["password"] = base.password
    try:
        return MqttSettings.model_validate(data)
    except ValidationError as exc:
        why = exc.errors(include_url=False)[0]["msg"]
        raise GatewayConfigError(where, [Problem(f"{key}.url", why, line)]) from None


def load(path: str | Path, mqtt: MqttSettings | None = None) -> GatewayConfig:
    """Load and check a gateway config and every register map it names."""
    where = str(path)
    data, marks = load_yaml(path, GatewayConfigError)
    raw = validate_document(GatewayFile, data, marks, where, GatewayConfigError, "a gateway config")
    base = Path(path).resolve().parent
    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    seen_assets: dict[str, int] = {}
    devices = []
    for i, d in enumerate(raw.devices):
        for value, seen, what in ((d.id, seen_ids, "id"), (d.asset, seen_assets, "asset")):
            if value in seen:
                problems.append(
                    Problem(
                        key_name(("devices", i, what)),
                        f"duplicate {what} {value!r} (also devices[{seen[value]}])",
                        marks.line(("devices", i, what)),
                    )
                )
            seen.setdefault(value, i)
        if not d.enabled:
            continue
        ppath = _resolve_profile(d.profile, base)
        if not ppath.is_file():
            problems.append(
                Problem(
                    key_name(("devices", i, "profile")),
                    f"no profile file {str(ppath)!r}",
                    marks.line(("devices", i, "profile")),
                )
            )
            continue
        profile = load_profile(ppath)  # a bad map raises with its own file, line and key
        ds = profile.device
        reads = plan_profile_reads(profile)
        devices.append(
            Device(
                id=d.id,
                host=d.host,
                port=d.port,
                unit_id=d.unit_id if d.unit_id is not None else ds.unit_id,
                asset=d.asset,
                asset_class=d.asset_class or profile.asset_class,
                poll_period_s=d.poll_period_s or ds.poll_period_s,
                timeout_s=d.timeout_s or ds.timeout_s,
                retries=d.retries if d.retries is not None else ds.retries,
                profile=profile,
                reads=tuple(reads),
            )
        )
    opcua = resolve_servers(
        raw.opcua,
        gateway=raw.gateway,
        base=base,
        marks=marks,
        problems=problems,
        seen_ids=seen_ids,
        seen_assets=seen_assets,
    )
    if not raw.devices and not raw.bridges and not raw.opcua:
        problems.append(Problem("devices", "no devices, bridges or opcua: nothing to do", 1))
    if problems:
        raise GatewayConfigError(where, problems)
    base_mqtt = mqtt or MqttSettings()
    bridges = []
    for i, b in enumerate(raw.bridges):
        local = MqttSettings()  # the local broker shares nothing with upstream
        key = key_name(("bridges", i))
        bridges.append(
            BridgeSpec(b.id, _mqtt(b, local, where, key, marks.line(("bridges", i))), b.topic)
        )
    buffer_path = Path(raw.buffer.path)
    if not buffer_path.is_absolute():
        buffer_path = base / buffer_path
    return GatewayConfig(
        file=where,
        gateway=raw.gateway,
        site=raw.site,
        mqtt=_mqtt(raw.mqtt, base_mqtt, where, "mqtt", marks.line(("mqtt",))),
        batch=raw.batch,
        buffer_path=buffer_path,
        buffer_max_batches=raw.buffer.max_batches,
        buffer_synchronous=raw.buffer.synchronous,
        status_period_s=raw.status_period_s,
        publish_window=raw.publish_window,
        ack_hold_s=raw.ack_hold_s,
        will_refresh_s=raw.will_refresh_s,
        devices=tuple(devices),
        bridges=tuple(bridges),
        opcua=opcua,
    )
