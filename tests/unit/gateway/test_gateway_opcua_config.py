"""OPC UA node maps and the ``opcua:`` gateway section: a bad one is refused at start with
file, line, key and reason; a good one resolves. Also the source's deadband and sample
grouping, on a stub sink (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway import GatewayConfigError, load
from gateway.health import DeviceHealth
from gateway.opcua.nodemap import NodeMapError, load_nodemap
from gateway.opcua.session import Bound
from gateway.opcua.source import OpcuaSource

NODEMAP = """\
nodemap: acme_pump_ua
asset_class: centrifugal_pump
namespace: urn:acme:pumps
nodes:
  - metric: speed_rpm
    browse_path: [Drive, Speed]
  - metric: bearing_temp_c
    node_id: "ns=2;s=Pump.BearingTemp"
    scale: 0.1
    offset: -40
    deadband: 0.5
"""

CONFIG = """\
gateway: gw-1
site: plant-a
opcua:
  - id: plc-1
    url: opc.tcp://10.0.0.40:4840
    assets:
      - asset: pump-1
        nodemap: acme.yaml
        path: [Pump1]
"""


def _write(tmp_path: Path, config: str = CONFIG, nodemap: str = NODEMAP) -> Path:
    (tmp_path / "acme.yaml").write_text(nodemap)
    path = tmp_path / "gw.yaml"
    path.write_text(config)
    return path


def test_good_nodemap_and_config_resolve(tmp_path: Path) -> None:
    cfg = load(_write(tmp_path))
    (server,) = cfg.opcua
    assert server.security == "None" and server.mode == "subscribe"
    (asset,) = server.assets
    assert asset.asset_class == "centrifugal_pump" and asset.path == ("Pump1",)
    temp = asset.nodemap.nodes[1]
    assert temp.engineering(650) == pytest.approx(25.0)
    assert server.certificate == tmp_path / "pki" / "gw-1-opcua-cert.der"  # generated there


@pytest.mark.parametrize(
    ("change", "line", "key", "reason"),
    [
        (
            (
                "    browse_path: [Drive, Speed]",
                '    browse_path: [Drive, Speed]\n    node_id: "i=5"',
            ),
            5,
            "nodes[0]",
            "exactly one of node_id and browse_path",
        ),
        (
            ('node_id: "ns=2;s=Pump.BearingTemp"', 'node_id: "Pump.BearingTemp"'),
            7,
            "nodes[1]",
            "not an OPC UA node id",
        ),
        (("metric: bearing_temp_c", "metric: speed_rpm"), 7, "nodes[1].metric", "duplicate metric"),
        (("namespace: urn:acme:pumps\n", ""), 5, "nodes[0].browse_path", "no 'ns:' prefix"),
        (("    scale: 0.1", "    scale: 0"), 7, "nodes[1]", "scale must not be 0"),
        (("    deadband: 0.5", "    deadbnd: 0.5"), 11, "nodes[1].deadbnd", "unknown field"),
        (
            ("    browse_path: [Drive, Speed]", "    browse_path: [Drive/Speed]"),
            5,
            "nodes[0]",
            "no '/'",
        ),
    ],
)
def test_bad_nodemap_is_refused_with_its_line(
    tmp_path: Path, change: tuple[str, str], line: int, key: str, reason: str
) -> None:
    assert change[0] in NODEMAP
    path = tmp_path / "acme.yaml"
    path.write_text(NODEMAP.replace(*change))
    with pytest.raises(NodeMapError) as err:
        load_nodemap(path)
    assert err.value.line == line and err.value.key == key, str(err.value)
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}:{line}: {key}: ")
    # The gateway refuses to start with the node map's own file and line.
    with pytest.raises(NodeMapError):
        load(_write(tmp_path, nodemap=NODEMAP.replace(*change)))


@pytest.mark.parametrize(
    ("extra", "line", "key", "reason"),
    [
        ("    security: Sign\n", 4, "opcua[0]", "needs 'trusted'"),
        ("    securty: Sign\n", 10, "opcua[0].securty", "unknown field"),
        ("    policy: Basic128Rsa15\n", 10, "opcua[0].policy", "Basic256Sha256"),
        (
            "    password_env: NOPE_UNSET_PW\n    username: u\n",
            10,
            "opcua[0].password_env",
            "$NOPE_UNSET_PW is not set",
        ),
        ("    trusted: nowhere.der\n", 10, "opcua[0].trusted", "no such file or folder"),
        ("    mode: push\n", 10, "opcua[0].mode", "'subscribe' or 'poll'"),
    ],
)
def test_bad_opcua_section_is_refused_with_its_line(
    tmp_path: Path, extra: str, line: int, key: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_UNSET_PW", raising=False)
    with pytest.raises(GatewayConfigError) as err:
        load(_write(tmp_path, CONFIG + extra))
    assert err.value.key == key and reason in err.value.reason, str(err.value)
    assert err.value.line == line, str(err.value)


def test_missing_nodemap_and_duplicate_asset_are_both_listed(tmp_path: Path) -> None:
    config = CONFIG + "      - asset: pump-1\n        nodemap: gone.yaml\n"
    with pytest.raises(GatewayConfigError) as err:
        load(_write(tmp_path, config))
    text = str(err.value)
    assert "opcua[0].assets[1].asset: duplicate asset 'pump-1'" in text
    assert "opcua[0].assets[1].nodemap: no node map file" in text


def test_deadband_drops_small_changes_and_samples_group_by_timestamp(tmp_path: Path) -> None:
    cfg = load(_write(tmp_path))
    server = cfg.opcua[0]
    asset = server.assets[0]
    sent: list[tuple[str, datetime, dict[str, float]]] = []

    def sink(a: str, ts: datetime, values: dict[str, float], cls: Any) -> None:
        sent.append((a, ts, values))

    src = OpcuaSource(server, DeviceHealth("plc-1", "pump-1"), sink)
    speed, temp = (Bound(asset, spec, None) for spec in asset.nodemap.nodes)  # type: ignore[arg-type]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = t0 + timedelta(seconds=1)
    src._add(temp, t1, 650)  # 25.0 degC
    src._add(speed, t1, 1500)
    src._add(speed, t0, 1490)
    src._add(temp, t0 + timedelta(seconds=2), 653)  # 25.3: inside the 0.5 deadband
    src._add(temp, t0 + timedelta(seconds=3), 656)  # 25.6: out of it
    src._flush()
    assert [(ts, v) for _, ts, v in sent] == [
        (t0, {"speed_rpm": 1490.0}),
        (t1, {"bearing_temp_c": pytest.approx(25.0), "speed_rpm": 1500.0}),
        (t0 + timedelta(seconds=3), {"bearing_temp_c": pytest.approx(25.6)}),
    ]
    assert src.health.state == "online" and src.health.points == 5


def test_bad_quality_and_strings_are_not_sent_and_make_the_server_degraded(
    tmp_path: Path,
) -> None:
    cfg = load(_write(tmp_path))
    server = cfg.opcua[0]
    asset = server.assets[0]
    sent: list[dict[str, float]] = []
    src = OpcuaSource(server, DeviceHealth("plc-1", "pump-1"), lambda a, ts, v, c: sent.append(v))
    speed, temp = (Bound(asset, spec, None) for spec in asset.nodemap.nodes)  # type: ignore[arg-type]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    src._add(speed, t0, "fast")  # a string is not telemetry
    src._bad(temp, "BadSensorFailure")
    src._flush()
    assert sent == [] and src.health.state == "degraded"
    assert (
        src.health.last_error == "pump-1 bearing_temp_c (ns=2;s=Pump.BearingTemp): BadSensorFailure"
    )
    src._add(speed, t0, 1500)
    src._flush()
    assert sent == [{"speed_rpm": 1500.0}]
    assert src.health.state == "online" and src.health.last_error is None


def test_servers_starting_together_share_one_generated_certificate(tmp_path: Path) -> None:
    """Two secure servers of one gateway connect at once: the certificate they share is
    generated once, and its key matches it (a race would pair one's key with the other's
    certificate)."""
    import asyncio
    import dataclasses

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from gateway.opcua.session import gateway_certificate

    server = load(_write(tmp_path)).opcua[0]
    servers = [dataclasses.replace(server, id=f"plc-{i}") for i in range(3)]

    async def main() -> list[str]:
        return list(await asyncio.gather(*(gateway_certificate(s) for s in servers)))

    uris = asyncio.run(main())
    assert uris == ["urn:forewarn:gateway:gw-1"] * 3
    cert = x509.load_der_x509_certificate(server.certificate.read_bytes())
    key = serialization.load_pem_private_key(server.private_key.read_bytes(), None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
