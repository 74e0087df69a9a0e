"""OPC UA servers that are not ours, for gateway tests: the older FreeOpcUa ``opcua``
package (a threaded, synchronous implementation separate from asyncua), with security
policies None / Basic256Sha256 Sign / SignAndEncrypt, certificates made here with
``cryptography``, and a username/password check. Also the ingest worker (in process) that
stores what the gateway publishes in the test's TimescaleDB."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from opcua import Server, ua

from forewarn.contract import topics
from forewarn.settings import Settings, load
from forewarn.testing import free_port

NS = "urn:forewarn:test:plc"
USER, PASSWORD = "operator", "s3cret-op"


def make_cert(folder: Path, name: str, uri: str) -> tuple[Path, Path]:
    """A self-signed application certificate (DER) and key (PEM), as a vendor's PKI
    tool would make for a server."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(True, True, True, True, False, True, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    der, pem = folder / f"{name}.der", folder / f"{name}.pem"
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return der, pem


class ForeignServer:
    """A FreeOpcUa ``opcua`` server with one object per asset and Double variables."""

    def __init__(
        self,
        folder: Path,
        assets: dict[str, list[str]],
        *,
        secure: bool = False,
        users: bool = False,
    ) -> None:
        self.port = free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/"
        self.server = Server()
        self.server.set_endpoint(self.url)
        self.server.set_server_name("foreign test PLC")
        self.cert: Path | None = None
        self.logins: list[str] = []
        if secure:
            self.cert, key = make_cert(folder, f"plc-{self.port}", f"urn:test:plc:{self.port}")
            self.server.set_application_uri(f"urn:test:plc:{self.port}")
            self.server.set_security_policy(
                [
                    ua.SecurityPolicyType.NoSecurity,
                    ua.SecurityPolicyType.Basic256Sha256_Sign,
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                ]
            )
            self.server.load_certificate(str(self.cert))
            self.server.load_private_key(str(key))
        else:
            self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        if users:
            self.server.set_security_IDs(["Username"])
            self.server.user_manager.set_user_manager(self._login)
        idx = self.server.register_namespace(NS)
        objects = self.server.get_objects_node()
        self.vars: dict[tuple[str, str], Any] = {}
        for asset, names in assets.items():
            obj = objects.add_object(idx, asset)
            for name in names:
                self.vars[(asset, name)] = obj.add_variable(idx, name, 0.0)
        self.lock = threading.Lock()

    def _login(self, isession: Any, username: str, password: str) -> bool:
        self.logins.append(username)
        return username == USER and password == PASSWORD

    def start(self) -> ForeignServer:
        self.server.start()
        self.running = True
        return self

    def stop(self) -> None:
        if getattr(self, "running", False):
            self.running = False
            self.server.stop()

    def write(self, asset: str, name: str, value: float, ts: dt.datetime) -> None:
        """Set a value with an explicit source timestamp (what the gateway must store)."""
        dv = ua.DataValue(ua.Variant(value, ua.VariantType.Double))
        dv.SourceTimestamp = ts.replace(tzinfo=None)  # the old package keeps naive UTC
        with self.lock:
            self.vars[(asset, name)].set_value(dv)


@pytest.fixture
def foreign_opcua(tmp_path: Path) -> Iterator[Callable[..., ForeignServer]]:
    made: list[ForeignServer] = []

    def start(assets: dict[str, list[str]], **kw: Any) -> ForeignServer:
        srv = ForeignServer(tmp_path / "server-pki", assets, **kw).start()
        made.append(srv)
        return srv

    yield start
    for srv in made:
        srv.stop()


def write_nodemap(path: Path, names: list[str], **extra: Any) -> Path:
    """A node map by browse path (relative to the asset's object), namespace by URI."""
    nodes = [{"metric": f"{n}_m", "browse_path": [n], **extra.get(n, {})} for n in names]
    doc = {"nodemap": path.stem, "asset_class": "centrifugal_pump", "namespace": NS, "nodes": nodes}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def ingest_settings(dsn: str, url: str, site: str) -> Settings:
    env = {
        "FOREWARN_DATABASE__DSN": dsn,
        "FOREWARN_MQTT__URL": url,
        "FOREWARN_MQTT__CLIENT_ID_PREFIX": f"{site}-ingest",
        "FOREWARN_INGEST__TOPIC_FILTER": f"{topics.ROOT}/{site}/+/telemetry",
    }
    return load(path=os.devnull, environ=env)
