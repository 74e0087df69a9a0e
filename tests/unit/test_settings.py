"""Settings: a wrong value stops start-up with a message naming the key and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import Field

from forewarn import settings
from forewarn.errors import SettingsError


def test_defaults_then_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "f.yaml"
    file.write_text("database:\n  dsn: postgresql://a@h:1/x\nmqtt:\n  url: mqtt://b:2\n")
    s = settings.load(file, environ={"FOREWARN_MQTT__URL": "mqtt://c:3"})
    assert s.database.dsn == "postgresql://a@h:1/x"
    assert (s.mqtt.host, s.mqtt.port) == ("c", 3)
    assert "environment" in s.source


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "f.yaml"
    file.write_text("database:\n  dsn: [unclosed\n")
    with pytest.raises(SettingsError) as info:
        settings.load(file, environ={})
    assert "line" in str(info.value) and str(file) in str(info.value)


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("mqtt:\n  url: http://x\n", "mqtt.url"),
        ("mqtt:\n  url: mqtt://x:notaport\n", "mqtt.url"),
        ("database:\n  pool_size: 0\n", "database.pool_size"),
        ("database:\n  dsn: mysql://x\n", "database.dsn"),
        ("database:\n  typo_key: 1\n", "database.typo_key"),
        ("log_level: LOUD\n", "log_level"),
        ("- a\n- b\n", "(root)"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    file = tmp_path / "f.yaml"
    file.write_text(yaml_text)
    with pytest.raises(SettingsError) as info:
        settings.load(file, environ={})
    assert key in [k for k, _ in info.value.problems]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        settings.load(tmp_path / "nope.yaml", environ={})


class Demo(settings.Section):
    batch_rows: int = Field(1000, ge=1)
    name: str = "x"


def test_service_section_validated_with_env_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "SECTIONS", {*settings.SECTIONS, "demo"})
    file = tmp_path / "f.yaml"
    file.write_text("demo:\n  batch_rows: 10\n  name: y\n")
    s = settings.load(file, environ={"FOREWARN_DEMO__BATCH_ROWS": "20"})
    section = settings.section(s, "demo", Demo)
    assert (section.batch_rows, section.name) == (20, "y")
    bad = settings.load(file, environ={"FOREWARN_DEMO__BATCH_ROWS": "0"})
    with pytest.raises(SettingsError) as info:
        settings.section(bad, "demo", Demo)
    assert info.value.problems[0][0] == "demo.batch_rows"


def test_password_is_not_printed() -> None:
    s = settings.load(
        None, environ={"FOREWARN_MQTT__PASSWORD": "hunter2", "FOREWARN_MQTT__USERNAME": "gw"}
    )
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "hunter2"


def test_environment_values_are_strings_unless_a_flow_list_or_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A numeric password or client id, or a user named "true", stay strings (YAML-parsing
    every value made them an int or a bool, which the string fields refused); numbers still
    reach number fields, and a list or mapping can be given in YAML flow style."""
    s = settings.load(
        os.devnull,
        environ={
            "FOREWARN_MQTT__PASSWORD": "123456",
            "FOREWARN_MQTT__USERNAME": "true",
            "FOREWARN_MQTT__CLIENT_ID_PREFIX": "2024",
            "FOREWARN_MQTT__KEEPALIVE_S": "45",
            "FOREWARN_DATABASE__DSN": "host=db port=5432 dbname=forewarn",
            "FOREWARN_LOG_LEVEL": "DEBUG",
            "FOREWARN_SPARKPLUG__SITES": "{Plant_A: plant-a}",
            "FOREWARN_SPARKPLUG__SKIP_PREFIXES": "[bdSeq, 'Node Control/']",
            "FOREWARN_SPARKPLUG__ENABLED": "true",
        },
    )
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "123456"
    assert (s.mqtt.username, s.mqtt.client_id_prefix, s.mqtt.keepalive_s) == ("true", "2024", 45)
    assert s.database.dsn == "host=db port=5432 dbname=forewarn" and s.log_level == "DEBUG"
    sp = settings.sparkplug(s)
    assert sp.enabled is True and sp.sites == {"Plant_A": "plant-a"}
    assert sp.skip_prefixes == ["bdSeq", "Node Control/"]
