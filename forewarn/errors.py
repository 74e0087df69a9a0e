"""Typed exceptions shared by every service.

Each carries the data a caller needs to act, and a message that a person can act
on without a stack trace (the CLI prints ``str(exc)`` and exits non-zero).
"""

from __future__ import annotations


class ForewarnError(Exception):
    """Base class of expected, user-facing failures."""


class ContractError(ForewarnError, ValueError):
    """A payload or topic does not follow the wire contract."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class SettingsError(ForewarnError):
    """A settings file or environment override is invalid."""

    def __init__(self, problems: list[tuple[str, str]], source: str) -> None:
        self.problems = problems
        self.source = source
        lines = [f"{key}: {why}" for key, why in problems]
        super().__init__(f"invalid settings ({source}):\n  " + "\n  ".join(lines))


class ServiceUnavailable(ForewarnError):
    """A server the program needs (database, broker) cannot be reached."""

    def __init__(self, service: str, target: str, reason: str, hint: str) -> None:
        self.service = service
        self.target = target
        self.reason = reason
        self.hint = hint
        super().__init__(f"{service} at {target} is unavailable: {reason}. {hint}")


class MissingExtension(ForewarnError):
    """The database lacks the TimescaleDB extension."""

    def __init__(self, target: str, hint: str) -> None:
        self.target = target
        self.hint = hint
        super().__init__(f"TimescaleDB extension is not available at {target}. {hint}")
