"""Suspected fault mode from the signature of the deviations, by metric role.

A rule names roles and the direction each must move (``up``, ``down`` or ``noisy``); a mode
matches when every role in its rule has a metric deviating that way, and the best-supported
mode wins. Rules live in the YAML, so a vendor's asset class can bring its own.
"""

from __future__ import annotations

from collections.abc import Mapping


def suspect(
    rules: Mapping[str, Mapping[str, str]],
    roles: Mapping[str, str | None],
    z: Mapping[str, float],
    noise: Mapping[str, float],
    *,
    z_min: float = 3.0,
    noise_min: float = 3.0,
) -> str | None:
    """The fault mode whose signature the current deviations match best, if any.

    >>> rules = {"bearing_wear": {"vibration": "up", "temperature": "up"},
    ...          "seal_leak": {"flow": "down", "pressure": "down"}}
    >>> roles = {"vib": "vibration", "temp": "temperature", "q": "flow", "p": "pressure"}
    >>> suspect(rules, roles, {"vib": 4.0, "temp": 3.0, "q": 0.1, "p": 0.0}, {})
    'bearing_wear'
    >>> suspect(rules, roles, {"vib": 0.5, "temp": 0.0, "q": -6.0, "p": -3.0}, {})
    'seal_leak'
    >>> suspect(rules, roles, {"vib": 4.0, "temp": -3.0, "q": 0.0, "p": 0.0}, {}) is None
    True
    """
    best: tuple[float, str] | None = None
    for mode, rule in rules.items():
        support = 0.0
        for role, direction in rule.items():
            names = [m for m, r in roles.items() if r == role]
            if direction == "up":
                vals = [z.get(m, 0.0) for m in names]
                got = max(vals, default=0.0)
                ok = got >= z_min
            elif direction == "down":
                vals = [-z.get(m, 0.0) for m in names]
                got = max(vals, default=0.0)
                ok = got >= z_min
            else:
                got = max((noise.get(m, 1.0) for m in names), default=1.0)
                ok = got >= noise_min
            if not ok:
                support = -1.0
                break
            support += got
        if support > 0 and (best is None or support > best[0]):
            best = (support, mode)
    return best[1] if best else None
