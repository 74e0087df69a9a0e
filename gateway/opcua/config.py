"""The ``opcua:`` section of a gateway config: servers, their security and node maps.

Resolved at start like the Modbus devices: every node map is loaded and checked, paths
are made absolute, passwords are read from the environment variables the file names
(never from the file itself), and a bad entry is refused with file, line and key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from forewarn.contract.topics import ID_PATTERN
from forewarn.registers import default_profiles_dir
from forewarn.registers.source import Marks, Problem, key_name
from gateway.opcua.nodemap import NODE_ID, NodeMap, load_nodemap

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Security = Literal["None", "Sign", "SignAndEncrypt"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpcuaAssetConfig(_Strict):
    asset: Id
    nodemap: str = Field(min_length=1, description="node map file, or a name in profiles/opcua/")
    root: str = Field("i=85", description="node the browse paths start from (default: Objects)")
    path: list[str] = Field(
        default_factory=list, description="browse names from root to this asset's object"
    )
    asset_class: Id | None = None


class OpcuaServerConfig(_Strict):
    """One OPC UA server; each one is its own task, client, session and backoff."""

    id: Id
    url: str = Field(pattern=r"^opc\.tcp://[^/:]+(:\d+)?(/.*)?$")
    security: Security = "None"
    policy: Literal["Basic256Sha256"] = "Basic256Sha256"
    certificate: str | None = Field(None, description="gateway certificate (DER or PEM)")
    private_key: str | None = Field(None, description="gateway private key (PEM)")
    trusted: str | None = Field(
        None, description="server certificate file, or a folder of them, that is trusted"
    )
    username: str | None = None
    password_env: str | None = None
    mode: Literal["subscribe", "poll"] = "subscribe"
    sampling_interval_ms: float = Field(500.0, ge=0, le=3_600_000)
    publishing_interval_ms: float = Field(500.0, gt=0, le=3_600_000)
    queue_size: int = Field(100, ge=1, le=100_000, description="server-side queue per node")
    poll_period_s: float = Field(1.0, gt=0, le=3600)
    timeout_s: float = Field(4.0, gt=0, le=120)
    enabled: bool = True
    assets: list[OpcuaAssetConfig] = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _checks(self) -> OpcuaServerConfig:
        if self.security != "None" and not self.trusted:
            raise ValueError(
                f"security {self.security} needs 'trusted' (the server's certificate or a "
                "folder of trusted certificates): an unchecked server could be anyone"
            )
        if (self.certificate is None) != (self.private_key is None):
            raise ValueError("give both certificate and private_key, or neither (generated)")
        if self.password_env and not self.username:
            raise ValueError("password_env without username")
        for a in self.assets:
            if not NODE_ID.match(a.root):
                raise ValueError(f"assets: root {a.root!r} is not a node id (e.g. ns=2;s=Pump1)")
        return self


@dataclass(frozen=True)
class OpcuaAsset:
    asset: str
    asset_class: str
    root: str
    path: tuple[str, ...]
    nodemap: NodeMap


@dataclass(frozen=True)
class OpcuaServer:
    """A server ready to read: paths absolute, node maps loaded, password resolved."""

    id: str
    url: str
    security: Security
    policy: str
    certificate: Path
    private_key: Path
    generate_certificate: bool
    application_uri: str
    trusted: Path | None
    username: str | None
    password: str | None
    mode: str
    sampling_interval_ms: float
    publishing_interval_ms: float
    queue_size: int
    poll_period_s: float
    timeout_s: float
    assets: tuple[OpcuaAsset, ...]

    @property
    def first_asset(self) -> str:
        return self.assets[0].asset


def _path(ref: str, base: Path) -> Path:
    p = Path(ref)
    return p if p.is_absolute() else base / p


def _resolve_nodemap(ref: str, base: Path) -> Path:
    path = _path(ref, base)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return default_profiles_dir() / "opcua" / f"{ref}.yaml"


def resolve_servers(
    raw: list[OpcuaServerConfig],
    *,
    gateway: str,
    base: Path,
    marks: Marks,
    problems: list[Problem],
    seen_ids: dict[str, int],
    seen_assets: dict[str, int],
) -> tuple[OpcuaServer, ...]:
    """Check and resolve the ``opcua:`` list; problems are appended, not raised, so one
    refusal lists everything wrong with the file."""
    out = []
    for i, s in enumerate(raw):
        if s.id in seen_ids:
            problems.append(
                Problem(
                    key_name(("opcua", i, "id")),
                    f"duplicate id {s.id!r}",
                    marks.line(("opcua", i, "id")),
                )
            )
        seen_ids.setdefault(s.id, -1)
        assets = []
        for j, a in enumerate(s.assets):
            loc = ("opcua", i, "assets", j)
            if a.asset in seen_assets:
                problems.append(
                    Problem(
                        key_name((*loc, "asset")),
                        f"duplicate asset {a.asset!r}",
                        marks.line((*loc, "asset")),
                    )
                )
            seen_assets.setdefault(a.asset, -1)
            path = _resolve_nodemap(a.nodemap, base)
            if not path.is_file():
                problems.append(
                    Problem(
                        key_name((*loc, "nodemap")),
                        f"no node map file {str(path)!r}",
                        marks.line((*loc, "nodemap")),
                    )
                )
                continue
            nm = load_nodemap(path)  # a bad map raises with its own file, line and key
            assets.append(
                OpcuaAsset(a.asset, a.asset_class or nm.asset_class, a.root, tuple(a.path), nm)
            )
        password = None
        if s.password_env:
            password = os.environ.get(s.password_env)
            if password is None:
                problems.append(
                    Problem(
                        key_name(("opcua", i, "password_env")),
                        f"${s.password_env} is not set",
                        marks.line(("opcua", i, "password_env")),
                    )
                )
        if s.trusted and not _path(s.trusted, base).exists():
            problems.append(
                Problem(
                    key_name(("opcua", i, "trusted")),
                    f"no such file or folder {str(_path(s.trusted, base))!r}",
                    marks.line(("opcua", i, "trusted")),
                )
            )
        generated = s.certificate is None
        pki = base / "pki"
        cert = _path(s.certificate, base) if s.certificate else pki / f"{gateway}-opcua-cert.der"
        key = _path(s.private_key, base) if s.private_key else pki / f"{gateway}-opcua-key.pem"
        if not generated and s.security != "None":
            for what, p in (("certificate", cert), ("private_key", key)):
                if not p.is_file():
                    problems.append(
                        Problem(
                            key_name(("opcua", i, what)),
                            f"no file {str(p)!r}",
                            marks.line(("opcua", i, what)),
                        )
                    )
        if not s.enabled:
            continue
        out.append(
            OpcuaServer(
                id=s.id,
                url=s.url,
                security=s.security,
                policy=s.policy,
                certificate=cert,
                private_key=key,
                generate_certificate=generated,
                application_uri=f"urn:forewarn:gateway:{gateway}",
                trusted=_path(s.trusted, base) if s.trusted else None,
                username=s.username,
                password=password,
                mode=s.mode,
                sampling_interval_ms=s.sampling_interval_ms,
                publishing_interval_ms=s.publishing_interval_ms,
                queue_size=s.queue_size,
                poll_period_s=s.poll_period_s,
                timeout_s=s.timeout_s,
                assets=tuple(assets),
            )
        )
    return tuple(out)
