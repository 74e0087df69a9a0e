"""Bad gateway configs and bad register maps are refused at start with file, line, key."""

from __future__ import annotations

from pathlib import Path

import pytest

from forewarn.registers import RegisterMapError
from forewarn.settings import MqttSettings
from gateway import GatewayConfigError, load

GOOD_PROFILE = """\
profile: p1
vendor: V
model: M
asset_class: electric_motor
device: {poll_period_s: 2.0, timeout_s: 0.5}
points:
  - {name: a, kind: input, address: 0, type: float32, metric: a}
  - {name: b, kind: input, address: 2, type: int16, metric: b}
"""


def _write(tmp_path: Path, config: str, profile: str = GOOD_PROFILE) -> Path:
    (tmp_path / "p1.yaml").write_text(profile)
    path = tmp_path / "gw.yaml"
    path.write_text(config)
    return path


CONFIG = """\
gateway: gw-1
site: plant-a
devices:
  - id: m1
    host: 10.0.0.5
    profile: p1.yaml
    asset: motor-1
    poll_period_s: 0.5
"""


def test_a_good_config_merges_device_and_profile(tmp_path):
    cfg = load(_write(tmp_path, CONFIG))
    (dev,) = cfg.devices
    assert (dev.port, dev.unit_id, dev.asset_class) == (502, 1, "electric_motor")
    assert dev.poll_period_s == 0.5 and dev.timeout_s == 0.5  # own value, profile's value
    assert len(dev.reads) == 1 and dev.reads[0].count == 3  # coalesced
    assert cfg.buffer_path == tmp_path / "gateway-buffer.sqlite"


def test_shipped_profile_by_name(tmp_path):
    cfg = load(_write(tmp_path, CONFIG.replace("p1.yaml", "acme_centrifugal_pump")))
    assert cfg.devices[0].profile.profile == "acme_centrifugal_pump"


@pytest.mark.parametrize(
    ("config", "key", "line", "reason"),
    [
        (CONFIG.replace("    asset: motor-1\n", ""), "devices[0].asset", 4, "missing"),
        (CONFIG.replace("host:", "hots:"), "devices[0].hots", 5, "unknown field"),
        (CONFIG.replace("0.5", "-1"), "devices[0].poll_period_s", 8, "greater than 0"),
        (CONFIG.replace("site: plant-a", "site: plant/a"), "site", 2, "pattern"),
        (CONFIG.replace("p1.yaml", "nope.yaml"), "devices[0].profile", 6, "no profile file"),
        (
            CONFIG + CONFIG[CONFIG.index("  - id") :].replace("asset: motor-1", "asset: m-2"),
            "devices[1].id",
            9,
            "duplicate id",
        ),
        (CONFIG + "  - nonsense\n", "devices[1]", 9, "valid dictionary"),
        ("gateway: [unclosed\n", "", 2, "YAML syntax"),
    ],
)
def test_bad_config_is_refused_with_file_line_key(tmp_path, config, key, line, reason):
    path = _write(tmp_path, config)
    with pytest.raises(GatewayConfigError) as info:
        load(path)
    err = info.value
    assert err.file == str(path) and str(path) in str(err)
    assert any((p.key, p.line) == (key, line) and reason in p.reason for p in err.problems), str(
        err
    )


B_LINE = "  - {name: b, kind: input, address: 2, type: int16, metric: b}"


@pytest.mark.parametrize(
    ("point_b", "key", "reason"),
    [
        ("{name: b, kind: input, address: 1, type: int16}", "points[1].address", "overlaps"),
        (
            "{name: b, kind: input, address: 2, type: int16, count: 2}",
            "points[1].count",
            "occupies 1",
        ),
        (
            "{name: b, kind: input, address: 2, type: int16, byte_order: middle}",
            "points[1].byte_order",
            "'big'",
        ),
        ("{name: a, kind: input, address: 2, type: int16}", "points[1].name", "duplicate name"),
        ("{name: b, kind: coil, address: 2, type: int16}", "points[1].type", "one bit"),
    ],
)
def test_bad_register_map_is_refused_with_its_line(tmp_path, point_b, key, reason):
    """Overlapping points, a type that does not fit the count, an unknown byte order, a
    duplicate name, a non-bit type on a coil: refused with the profile's file and line."""
    path = _write(tmp_path, CONFIG, GOOD_PROFILE.replace(B_LINE, f"  - {point_b}"))
    with pytest.raises(RegisterMapError) as info:
        load(path)
    err = info.value
    assert err.file.endswith("p1.yaml")
    assert any((p.key, p.line) == (key, 8) and reason in p.reason for p in err.problems), str(err)


def test_password_comes_from_the_named_environment_variable(tmp_path, monkeypatch):
    config = CONFIG.replace(
        "devices:", "mqtt:\n  username: gw-1\n  password_env: GW1_PASSWORD\ndevices:"
    )
    path = _write(tmp_path, config)
    with pytest.raises(GatewayConfigError, match=r"\$GW1_PASSWORD is not set"):
        load(path)
    monkeypatch.setenv("GW1_PASSWORD", "s3cret")
    cfg = load(path, MqttSettings(url="mqtt://broker.example:1884"))
    assert cfg.mqtt.username == "gw-1" and cfg.mqtt.port == 1884
    assert cfg.mqtt.password is not None and cfg.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(cfg)


def test_the_shipped_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("FOREWARN_GATEWAY_PASSWORD", "x")
    root = Path(__file__).resolve().parents[3]
    cfg = load(root / "config" / "gateway.example.yaml")
    assert [d.id for d in cfg.devices] == ["pump-1", "motor-1"]  # chiller-1 is disabled
    assert cfg.mqtt.username == "gw-north-1"


def test_bridges_and_their_refusals(tmp_path):
    head = "gateway: gw-1\nsite: plant-a\n"
    path = _write(tmp_path, head + "bridges:\n  - {id: local, url: mqtt://127.0.0.1:1883}\n")
    (bridge,) = load(path).bridges
    assert (bridge.id, bridge.settings.port, bridge.topic) == (
        "local",
        1883,
        "forewarn/v1/+/+/telemetry",
    )
    path = _write(tmp_path, head + "bridges:\n  - {id: local, url: http://x}\n")
    with pytest.raises(GatewayConfigError, match=r"bridges\[0\]\.url: .*mqtt://"):
        load(path)
    path = _write(tmp_path, head)
    with pytest.raises(GatewayConfigError, match="nothing to do"):
        load(path)
