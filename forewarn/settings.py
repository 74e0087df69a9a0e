"""Settings: one YAML file plus environment overrides, validated at start.

Order of precedence (highest first): environment ``FOREWARN_<SECTION>__<KEY>``,
the YAML file (``--config``, ``$FOREWARN_CONFIG`` or ``./forewarn.yaml``), defaults.
The environment is read by the few lines of :func:`_env_overrides`, not pydantic-settings:
service sections stay raw until each service validates its own (so no central model knows
their fields' types, which pydantic-settings needs to read nested variables).
Each service validates its own section with :func:`section`, so services add keys
without touching this module; every error names the full key and why.
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from forewarn import yamlsafe
from forewarn.errors import SettingsError

ENV_PREFIX = "FOREWARN_"
DEFAULT_FILE = "forewarn.yaml"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:54329/forewarn"
DEFAULT_BROKER = "mqtt://127.0.0.1:18839"


# Top-level sections that services validate with :func:`section`. A section name not listed
# here is refused at load, so a misspelled ``ingset:`` is an error instead of silently ignored
# settings (tests/unit/test_hostile_config.py checks every ``section()`` call names one of these).
SECTIONS: set[str] = {
    "ingest",
    "detectors",
    "ticketing",
    "sparkplug",
    "notifications",
    "attachments",
    "customer",
    "locale",
    "observe",
}


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class DatabaseSettings(Section):
    dsn: str = Field(DEFAULT_DSN, description="libpq connection string or URL")
    pool_size: int = Field(4, ge=1, le=100)
    connect_timeout_s: float = Field(5.0, gt=0, le=120)

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str) -> str:
        if "://" in value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (or be a key=value libpq string)")
        return value


class MqttSettings(Section):
    url: str = Field(DEFAULT_BROKER, description="mqtt://host:port or mqtts://host:port")
    username: str | None = None
    password: SecretStr | None = None
    client_id_prefix: str = Field("forewarn", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    keepalive_s: int = Field(30, ge=5, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://host:port or mqtts://host:port")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"


class Settings(Section):
    """Settings every service shares; service sections stay raw until validated."""

    model_config = ConfigDict(extra="allow", validate_default=True)

    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    source: str = Field("defaults", exclude=True)

    def raw(self, name: str) -> dict[str, Any]:
        extra = self.model_extra or {}
        value = extra.get(name, {})
        return value if isinstance(value, dict) else {}


S = TypeVar("S", bound=BaseModel)


def _problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        key = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        out.append((key or "(root)", err["msg"]))
    return out


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """``FOREWARN_DATABASE__DSN=x`` -> ``{"database": {"dsn": "x"}}`` (YAML-parsed values)."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ("FOREWARN_CONFIG",):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if len(path) < 2 and path != ["log_level"]:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = _env_value(value)
    return tree


def _env_value(value: str) -> Any:
    """A YAML flow list or mapping (``[a, b]``, ``{k: v}``) becomes one; any other value
    stays the string it is, for the section's model to convert: ``"20"`` becomes an int
    where the field is one, while a numeric password, user or client id stays a string
    (parsing every value as YAML made ``FOREWARN_MQTT__PASSWORD=123456`` an int, refused)."""
    if value[:1] not in ("[", "{"):
        return value
    try:
        parsed = yamlsafe.load(value)
    except yaml.YAMLError:
        return value
    return parsed if isinstance(parsed, list | dict) else value


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, mapping by mapping (for layered YAML configuration)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _unknown_section(name: str) -> str:
    known = sorted({"database", "mqtt", "log_level", *SECTIONS})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(known)
    return f"unknown section ({hint})"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    if env := os.environ.get("FOREWARN_CONFIG"):
        return Path(env)
    default = Path(DEFAULT_FILE)
    return default if default.exists() else None


def load(
    path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Load and validate settings; raise SettingsError naming every bad key."""
    file = config_path(path)
    data: dict[str, Any] = {}
    source = "defaults"
    if file is not None:
        source = str(file)
        try:
            loaded = yamlsafe.load(file.read_text()) or {}
        except FileNotFoundError:
            raise SettingsError([("(file)", "not found")], source) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
            raise SettingsError([(where, f"not valid YAML: {exc}")], source) from None
        if not isinstance(loaded, dict):
            raise SettingsError([("(root)", "must be a mapping of sections")], source)
        data = loaded
    overrides = _env_overrides(dict(os.environ if environ is None else environ))
    if overrides:
        source += " + environment"
    try:
        settings = Settings.model_validate(deep_merge(data, overrides))
    except ValidationError as exc:
        raise SettingsError(_problems(exc), source) from None
    unknown = sorted(set(settings.model_extra or {}) - SECTIONS)
    if unknown:
        raise SettingsError([(name, _unknown_section(name)) for name in unknown], source)
    object.__setattr__(settings, "source", source)
    return settings


def section(settings: Settings, name: str, model: type[S]) -> S:
    """Validate one service's section; errors name ``name.key``."""
    try:
        return model.model_validate(settings.raw(name))
    except ValidationError as exc:
        raise SettingsError(_problems(exc, name), settings.source) from None


@lru_cache(maxsize=1)
def current() -> Settings:
    """Settings of this process, loaded once."""
    return load()


# -- Sparkplug B (ingest intake and the simulator's edge nodes) ----------------------------


class SparkplugSettings(Section):
    """``sparkplug:``: how Sparkplug B groups, edge nodes and devices map onto the contract.

    Shared by ingest (which decodes) and device_sim (which publishes), so both agree on
    topics and names. Templates may use ``{group}``, ``{edge}`` and ``{device}``.
    """

    enabled: bool = Field(False, description="ingest also subscribes to spBv1.0/...")
    group_filter: str = Field(
        "+", pattern=r"^(\+|[^/+#]{1,64})$", description="'+' or one Sparkplug group id"
    )
    sites: dict[str, str] = Field(
        default_factory=dict, description="group id -> site (default: the group id itself)"
    )
    asset: str = Field("{device}", description="asset id of a device's metrics")
    node_asset: str = Field("{edge}", description="asset id of node-level (NDATA) metrics")
    gateway: str = Field("{edge}", description="gateway id in the status model")
    metric_names: dict[str, str] = Field(
        default_factory=dict, description="Sparkplug metric name -> contract metric name"
    )
    skip_prefixes: list[str] = Field(
        default_factory=lambda: ["bdSeq", "Node Control/", "Device Control/", "Node Info/"],
        description="metrics never stored (session bookkeeping, commands)",
    )
    class_metric: str = Field(
        "Properties/AssetClass", description="a birth string metric naming the asset class"
    )
    rebirth: bool = Field(True, description="request a rebirth (NCMD) on a gap or unknown alias")
    rebirth_interval_s: float = Field(
        5.0, ge=0, description="at most one rebirth request per edge node this often"
    )
    status: bool = Field(True, description="publish births/deaths in the gateway status model")
    republish: bool = Field(
        True,
        description="after commit, publish each converted batch as v1 JSON telemetry, so "
        "detectors (which read forewarn/v1/+/+/telemetry) score Sparkplug devices too",
    )

    @field_validator("asset", "node_asset", "gateway")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(group="g", edge="e", device="d")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"use only {{group}}, {{edge}}, {{device}}: {exc}") from None
        return value


def sparkplug(settings: Settings) -> SparkplugSettings:
    """The validated ``sparkplug`` section."""
    return section(settings, "sparkplug", SparkplugSettings)
