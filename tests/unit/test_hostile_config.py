"""Hostile and mistaken configuration: one clear line, never a traceback (issue 14, item 13).

Tried: a self-referencing YAML alias and a "billion laughs" alias bomb in every YAML
the project reads (settings, register maps, gateway configs, detector configs); a misspelled
top-level settings section (file and environment); ``tickets resolve --code bogus``; a gateway
buffer path that points at a file that is no SQLite database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from detectors.configuration import load_config
from forewarn import settings
from forewarn.errors import SettingsError
from forewarn.registers import RegisterMapError, parse_profile
from gateway import GatewayConfigError, load
from gateway.buffer import Buffer, BufferUnusable

SELF_ALIAS = "a: &a [*a]\n"
# Nine levels of nine-fold aliases: 9**9 (387 million) strings once expanded.
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "why"), [(SELF_ALIAS, "refers to the node"), (BOMB, "expand")], ids=["self", "bomb"]
)
def test_settings_refuse_hostile_aliases_with_the_line(tmp_path: Path, text: str, why: str) -> None:
    file = tmp_path / "forewarn.yaml"
    file.write_text(text)
    with pytest.raises(SettingsError) as info:
        settings.load(file, environ={})
    where, reason = info.value.problems[0]
    assert where.startswith("line ") and why in reason


def test_a_modest_alias_still_works(tmp_path: Path) -> None:
    """The shipped detector classes share settings through aliases and merge keys."""
    file = tmp_path / "forewarn.yaml"
    file.write_text("ingest: &i {batch_rows: 7}\ndetectors: {}\nticketing: {}\n")
    assert settings.load(file, environ={}).raw("ingest") == {"batch_rows": 7}
    assert load_config().source.endswith("default.yaml")


def test_a_register_map_with_a_recursive_alias_is_refused_at_its_line() -> None:
    text = "profile: t\nvendor: V\nmodel: M\nasset_class: centrifugal_pump\npoints: &p [*p]\n"
    with pytest.raises(RegisterMapError) as info:
        parse_profile(text)
    assert ":5:" in str(info.value) and "refers to the node" in str(info.value)


def test_a_gateway_config_with_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("gateway: gw-1\nsite: s\n" + BOMB)
    with pytest.raises((GatewayConfigError, RegisterMapError)) as info:
        load(path)
    assert "expand" in str(info.value)


def test_a_detector_config_with_an_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "det.yaml"
    path.write_text("defaults: &d\n  alarm: [*d]\n")
    with pytest.raises(SettingsError) as info:
        load_config(path)
    assert info.value.problems[0][0] == "line 1"


def test_a_misspelled_section_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    file = tmp_path / "forewarn.yaml"
    file.write_text("ingset:\n  batch_rows: 10\n")
    with pytest.raises(SettingsError) as info:
        settings.load(file, environ={})
    assert info.value.problems == [("ingset", "unknown section (did you mean 'ingest'?)")]
    with pytest.raises(SettingsError, match="tickting"):
        settings.load(None, environ={"FOREWARN_TICKTING__MAX_BODY_BYTES": "10"})


def test_every_section_a_service_reads_is_known() -> None:
    """A new service section must be added to settings.SECTIONS, or its own file is refused."""
    root = Path(__file__).resolve().parents[2]
    import re

    names = set()
    for path in root.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        names |= set(re.findall(r"section\(\s*\w+,\s*\"(\w+)\"", path.read_text()))
    assert names and names <= settings.SECTIONS, names - settings.SECTIONS


def _forewarn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    return subprocess.run(
        [sys.executable, "-m", "forewarn", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_tickets_resolve_with_a_bogus_code_is_one_line(tmp_path: Path) -> None:
    run = _forewarn("tickets", "resolve", "1", "--code", "bogus", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert "--code" in run.stderr and "confirmed" in run.stderr


def test_a_buffer_that_is_not_sqlite_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite"
    path.write_text("this is a text file, not a database\n" * 100)
    with pytest.raises(BufferUnusable, match="not a database"):
        Buffer(path)
    assert path.read_text().startswith("this is a text file")  # nothing overwritten

    (tmp_path / "p1.yaml").write_text(
        "profile: p1\nvendor: V\nmodel: M\nasset_class: electric_motor\n"
        "points:\n  - {name: a, kind: input, address: 0, type: float32, metric: a}\n"
    )
    (tmp_path / "gw.yaml").write_text(
        "gateway: gw-1\nsite: plant-a\nbuffer: {path: buffer.sqlite}\n"
        "devices:\n  - {id: m1, host: 127.0.0.1, port: 1, profile: p1.yaml, asset: motor-1}\n"
    )
    run = _forewarn("gateway", "run", str(tmp_path / "gw.yaml"), cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "unusable" in run.stderr
