"""Load vendor profiles from YAML, refusing bad ones with file, line, key and reason."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from forewarn.registers.model import Profile
from forewarn.registers.source import (
    Marks,
    Problem,
    SourceError,
    load_yaml,
    parse_yaml,
    refuse,
    validate_document,
)

PROFILES_ENV = "FOREWARN_PROFILES"


class RegisterMapError(SourceError):
    """A register map (profile) is refused."""


def default_profiles_dir() -> Path:
    """``$FOREWARN_PROFILES`` or ``profiles/`` at the repository root."""
    env = os.environ.get(PROFILES_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "profiles"


def _apply_defaults(data: dict[str, Any]) -> None:
    defaults = data.get("defaults")
    points = data.get("points")
    if not isinstance(defaults, dict) or not isinstance(points, list):
        return
    for point in points:
        if isinstance(point, dict):
            for key in ("byte_order", "word_order"):
                if key in defaults and key not in point:
                    point[key] = defaults[key]


def _validate(data: Any, marks: Marks, file: str) -> Profile:
    if isinstance(data, dict):
        _apply_defaults(data)
    profile = validate_document(Profile, data, marks, file, RegisterMapError, "a profile")
    refuse(profile.layout_problems(), marks, file, RegisterMapError)
    return profile


def load_profile(path: str | Path) -> Profile:
    """Load and check one profile file."""
    data, marks = load_yaml(path, RegisterMapError)
    return _validate(data, marks, str(path))


def parse_profile(text: str, file: str = "<string>") -> Profile:
    """Load and check a profile given as YAML text."""
    data, marks = parse_yaml(text, file, RegisterMapError)
    return _validate(data, marks, file)


def load_profiles(directory: str | Path | None = None) -> dict[str, Profile]:
    """Every ``*.yaml`` profile in ``directory``, by profile name; names must be unique."""
    root = Path(directory) if directory is not None else default_profiles_dir()
    out: dict[str, Profile] = {}
    where: dict[str, Path] = {}
    for path in sorted(root.glob("*.y*ml")):
        profile = load_profile(path)
        if profile.profile in out:
            raise RegisterMapError(
                str(path),
                [
                    Problem(
                        "profile",
                        f"name {profile.profile!r} also used by {where[profile.profile]}",
                        1,
                    )
                ],
            )
        out[profile.profile] = profile
        where[profile.profile] = path
    return out
