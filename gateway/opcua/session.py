"""Open one OPC UA session the way a gateway config asks: security, trust, user, nodes.

Everything that can go wrong on the way (no route, an untrusted server certificate, a
refused user, a node that does not exist) becomes an ``OpcuaFailure`` with a sentence an
operator can act on; it ends up as the server's ``last_error`` in the gateway status.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from asyncua import Client, Node, ua
from asyncua.crypto import security_policies, uacrypto
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.opcua.config import OpcuaAsset, OpcuaServer
from gateway.opcua.nodemap import NodeSpec

log = logging.getLogger("forewarn.gateway.opcua")
for _name in ("asyncua", "opcua"):  # we report errors per server, in the status
    logging.getLogger(_name).setLevel(logging.CRITICAL)

_NSU = re.compile(r"^nsu=([^;]+);(.+)$")
_POLICIES = {"Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256}
# Servers of one gateway share its generated certificate: make it once, not in a race.
_CERT_LOCKS: dict[tuple[int, Path], asyncio.Lock] = {}


class OpcuaFailure(Exception):
    """A server cannot be read; ``fatal`` when there is no usable session at all."""

    def __init__(self, reason: str, fatal: bool = True) -> None:
        super().__init__(reason)
        self.fatal = fatal


@dataclass(frozen=True)
class Bound:
    """A node map entry resolved to a node of the live server."""

    asset: OpcuaAsset
    spec: NodeSpec
    node: Node


def describe(exc: BaseException) -> str:
    """One line for a status message, with the OPC UA status name when there is one."""
    if isinstance(exc, ua.UaStatusCodeError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def trusted_fingerprints(path: Path) -> set[str]:
    """SHA-256 of every certificate (DER or PEM) in a file or a folder."""
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    out = set()
    for f in files:
        data = f.read_bytes()
        try:
            cert = (
                x509.load_pem_x509_certificate(data)
                if data.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate(data)
            )
        except ValueError:
            log.warning("%s: not a certificate, ignored", f)
            continue
        out.add(fingerprint(cert.public_bytes(uacrypto.serialization.Encoding.DER)))
    return out


async def gateway_certificate(server: OpcuaServer) -> str:
    """Make sure the gateway's certificate exists (generated once, then reused) and return
    the application URI the session must announce (the certificate's own)."""
    if server.generate_certificate:
        key = (id(asyncio.get_running_loop()), server.certificate)
        async with _CERT_LOCKS.setdefault(key, asyncio.Lock()):
            server.certificate.parent.mkdir(parents=True, exist_ok=True)
            await setup_self_signed_certificate(
                server.private_key,
                server.certificate,
                server.application_uri,
                socket.gethostname(),
                [ExtendedKeyUsageOID.CLIENT_AUTH],
                {"organizationName": "Forewarn"},
            )
    cert = await uacrypto.load_certificate(str(server.certificate))
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    return uris[0] if uris else server.application_uri


async def connect(server: OpcuaServer) -> Client:
    """A connected, activated session; raises OpcuaFailure with the reason."""
    client = Client(server.url, timeout=server.timeout_s, watchdog_intervall=server.timeout_s)
    client.name = client.description = "Forewarn gateway"
    client.session_timeout = max(30_000, int(server.timeout_s * 10_000))
    try:
        if server.security != "None":
            client.application_uri = await gateway_certificate(server)
            mode = getattr(ua.MessageSecurityMode, server.security)
            policy = _POLICIES[server.policy]
            endpoints = await asyncio.wait_for(
                client.connect_and_get_server_endpoints(), server.timeout_s
            )
            try:
                endpoint = Client.find_endpoint(endpoints, mode, policy.URI)
            except ValueError:
                raise OpcuaFailure(
                    f"server offers no {server.policy} {server.security} endpoint"
                ) from None
            der = bytes(endpoint.ServerCertificate)
            assert server.trusted is not None  # the config requires it with security
            if fingerprint(der) not in await asyncio.to_thread(
                trusted_fingerprints, server.trusted
            ):
                subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
                raise OpcuaFailure(
                    f"server certificate '{subject}' (sha256 {fingerprint(der)[:16]}…) is not "
                    f"trusted: not in {server.trusted}"
                )
            await client.set_security(
                policy,
                str(server.certificate),
                str(server.private_key),
                server_certificate=der,
                mode=mode,
            )
        if server.username:
            client.set_user(server.username)
            client.set_password(server.password or "")
        await asyncio.wait_for(client.connect(), server.timeout_s * 2)
    except OpcuaFailure:
        await close(client)
        raise
    except (OSError, TimeoutError, ua.UaError, ValueError) as exc:
        await close(client)
        raise OpcuaFailure(f"cannot connect to {server.url}: {describe(exc)}") from None
    return client


async def close(client: Client) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 2.0)


async def _node_id(client: Client, text: str, namespaces: list[str]) -> ua.NodeId:
    m = _NSU.match(text)
    if m:
        uri, rest = m.groups()
        if uri not in namespaces:
            raise OpcuaFailure(f"namespace {uri!r} is not on the server", fatal=False)
        text = f"ns={namespaces.index(uri)};{rest}"
    return ua.NodeId.from_string(text)


def _relative_path(names: list[str]) -> ua.RelativePath:
    path = ua.RelativePath()
    for name in names:
        el = ua.RelativePathElement()
        el.ReferenceTypeId = ua.NodeId(ua.Int32(ua.ObjectIds.HierarchicalReferences))
        el.IsInverse = cast(ua.Boolean, False)
        el.IncludeSubtypes = cast(ua.Boolean, True)
        el.TargetName = ua.QualifiedName.from_string(name)
        path.Elements.append(el)
    return path


async def bind(client: Client, assets: tuple[OpcuaAsset, ...]) -> tuple[list[Bound], list[str]]:
    """Resolve every node map entry against the server: (bound nodes, problems). A node
    that does not exist is a problem naming it; the others are still read. Browse paths
    are translated in one request per root node, so a large map binds quickly."""
    namespaces = await client.get_namespace_array()
    problems: list[str] = []
    candidates: list[tuple[OpcuaAsset, NodeSpec, Node]] = []
    by_root: dict[str, list[tuple[OpcuaAsset, NodeSpec, ua.RelativePath]]] = {}

    def problem(a: OpcuaAsset, spec: NodeSpec, why: str) -> None:
        problems.append(f"{a.asset} {spec.metric} ({spec.address}): {why}")

    for a in assets:
        ns = a.nodemap.namespace
        default_ns = namespaces.index(ns) if ns in namespaces else None
        for spec in a.nodemap.nodes:
            try:
                if spec.node_id is not None:
                    node = client.get_node(await _node_id(client, spec.node_id, namespaces))
                    candidates.append((a, spec, node))
                    continue
                path = [*a.path, *(spec.browse_path or [])]
                if any(":" not in p for p in path) and default_ns is None:
                    raise OpcuaFailure(f"namespace {ns!r} is not on the server", fatal=False)
                qualified = [p if ":" in p else f"{default_ns}:{p}" for p in path]
                by_root.setdefault(a.root, []).append((a, spec, _relative_path(qualified)))
            except (OpcuaFailure, ua.UaError, ValueError) as exc:
                problem(a, spec, describe(exc))
    for root, items in by_root.items():
        start = await _node_id(client, root, namespaces)
        paths = await client.translate_browsepaths(start, [rp for _, _, rp in items])
        for (a, spec, _), res in zip(items, paths, strict=True):
            if not res.StatusCode.is_good() or not res.Targets:
                problem(a, spec, f"browse path: {res.StatusCode.name}")
                continue
            target = res.Targets[0].TargetId
            candidates.append(
                (a, spec, client.get_node(ua.NodeId(target.Identifier, target.NamespaceIndex)))
            )
    bound: list[Bound] = []
    if not candidates:
        return bound, problems
    # One read tells which node ids exist and hold a value.
    results = await client.read_attributes([n for _, _, n in candidates], ua.AttributeIds.Value)
    for (a, spec, node), dv in zip(candidates, results, strict=True):
        status = dv.StatusCode
        if status is not None and not status.is_good() and status.name.startswith("BadNode"):
            problem(a, spec, status.name)
            continue
        bound.append(Bound(a, spec, node))
    return bound, problems


def number(value: object) -> float | None:
    """A telemetry number from an OPC UA value, or None (strings, arrays, no value)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None
