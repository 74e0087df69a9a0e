"""YAML with line numbers, and the error that points a person at the bad line.

Register maps and scenarios are written by hand, so a refusal must name the file, the
line and the key; PyYAML's node marks give us the lines, pydantic gives us the keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from forewarn import yamlsafe
from forewarn.errors import ForewarnError

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a source file."""

    key: str
    reason: str
    line: int | None = None


class SourceError(ForewarnError, ValueError):
    """A hand-written YAML file is refused; carries file, line, key and reason."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = list(problems)
        first = self.problems[0]
        self.line = first.line
        self.key = first.key
        self.reason = first.reason
        lines = [_fmt(file, p) for p in self.problems]
        super().__init__("\n".join(lines))


def _fmt(file: str, p: Problem) -> str:
    where = f"{file}:{p.line}" if p.line is not None else file
    return f"{where}: {p.key}: {p.reason}" if p.key else f"{where}: {p.reason}"


def key_name(loc: Loc) -> str:
    """``('points', 3, 'type')`` -> ``points[3].type``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Marks:
    """Line numbers (1-based) of every key and list item in a YAML document."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {(): 1}

    def line(self, loc: Loc) -> int:
        """Line of ``loc`` or of its nearest present parent."""
        loc = tuple(loc)
        while loc not in self.lines:
            loc = loc[:-1]
        return self.lines[loc]


def _walk(node: yaml.Node, path: Loc, marks: Marks, dups: list[tuple[Loc, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for knode, vnode in node.value:
            key = str(knode.value)
            loc = (*path, key)
            if key in seen:
                dups.append((loc, knode.start_mark.line + 1))
            seen.add(key)
            marks.lines[loc] = knode.start_mark.line + 1
            _walk(vnode, loc, marks, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            marks.lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), marks, dups)


def load_yaml(path: str | Path, error: type[SourceError] = SourceError) -> tuple[Any, Marks]:
    """Parse a YAML file; refuse syntax errors and duplicate keys with their line."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(file, [Problem("", f"cannot read: {exc.strerror or exc}")]) from None
    return parse_yaml(text, file, error)


def parse_yaml(
    text: str, file: str = "<string>", error: type[SourceError] = SourceError
) -> tuple[Any, Marks]:
    try:
        node = yamlsafe.compose(text)
        data = yamlsafe.load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise error(file, [Problem("", f"YAML syntax: {exc.problem}", line)]) from None
    except yaml.YAMLError as exc:
        raise error(file, [Problem("", f"YAML syntax: {exc}")]) from None
    marks = Marks()
    dups: list[tuple[Loc, int]] = []
    if node is not None:
        _walk(node, (), marks, dups)
    if dups:
        raise error(file, [Problem(key_name(loc), "duplicate key", line) for loc, line in dups])
    return data, marks


def problems_from(exc: ValidationError, marks: Marks) -> list[Problem]:
    """Turn pydantic's errors into problems with lines."""
    out = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
        # Drop pydantic's union/tag markers such as 'literal[...]' or 'function-after[...]'.
        loc = tuple(p for p in loc if not (isinstance(p, str) and "[" in p))
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "missing required field"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        out.append(Problem(key_name(loc), msg, marks.line(loc)))
    return out


M = TypeVar("M", bound=BaseModel)


def validate_document(
    model: type[M], data: Any, marks: Marks, file: str, error: type[SourceError], what: str
) -> M:
    """Validate one YAML document against ``model``; refuse it with file, line, key, reason."""
    if not isinstance(data, dict):
        raise error(file, [Problem("", f"{what} must be a YAML mapping", 1)])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(file, problems_from(exc, marks)) from None


def refuse(
    problems: Sequence[tuple[Loc, str]], marks: Marks, file: str, error: type[SourceError]
) -> None:
    """Raise ``error`` for cross-field problems found after validation, if there are any."""
    if problems:
        raise error(file, [Problem(key_name(loc), why, marks.line(loc)) for loc, why in problems])
