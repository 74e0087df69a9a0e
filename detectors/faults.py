"""Suspected fault mode from the signature of the deviations, by metric role.

A rule names roles and the direction each must move (``up``, ``down`` or ``noisy``); a mode
matches when every role in its rule has a metric deviating that way, and the best-supported
mode wins. A key may name alternatives (``suction_pressure|pressure``): a pump without a
suction sensor still shows cavitation on its discharge. Rules live in the YAML, so a
vendor's asset class can bring its own (and drop the modes it cannot suffer).

Rules only know roles; an engineer knows the machine. When a ticket is resolved with another
fault mode than the one guessed, the asset's detector remembers the signature (which metrics
moved which way) with the mode found, and :func:`recall` names that mode the next time the
same signature appears, before any rule is asked.
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
    >>> suspect({"cavitation": {"vibration": "up", "suction_pressure|pressure": "down"}},
    ...         roles, {"vib": 4.0, "p": -5.0}, {})
    'cavitation'
    """
    best: tuple[float, str] | None = None
    for mode, rule in rules.items():
        support = 0.0
        for role, direction in rule.items():
            either = role.split("|")
            names = [m for m, r in roles.items() if r in either]
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


Signature = frozenset[tuple[str, str]]


def directions(z: Mapping[str, float], *, z_min: float = 3.0) -> dict[str, str]:
    """Each metric that carries the departure (|z| at least ``z_min``) and which way it moved."""
    return {m: "up" if v > 0 else "down" for m, v in z.items() if abs(v) >= z_min}


def signature(z: Mapping[str, float], *, z_min: float = 3.0, top: int = 3) -> Signature:
    """The ``top`` strongest departures with their directions: what an engineer's correction
    is remembered by (metric names, not roles, so it works for tags no rule knows).

    >>> sorted(signature({"a": 5.0, "b": -4.0, "c": 3.5, "d": 9.0, "e": 1.0}))
    [('a', 'up'), ('b', 'down'), ('d', 'up')]
    """
    strongest = sorted((m for m, v in z.items() if abs(v) >= z_min), key=lambda m: -abs(z[m]))
    return frozenset((m, "up" if z[m] > 0 else "down") for m in strongest[:top])


def recall(
    memory: Mapping[Signature, str], z: Mapping[str, float], *, z_min: float = 3.0
) -> str | None:
    """The corrected fault mode of the most specific remembered signature that the current
    departures contain (every metric of it moving the same way now), if any.

    >>> memory = {frozenset({("dp", "up")}): "clogged_filter",
    ...           frozenset({("dp", "up"), ("flow", "down")}): "impeller_wear"}
    >>> recall(memory, {"dp": 4.0, "flow": -5.0, "temp": 0.2})
    'impeller_wear'
    >>> recall(memory, {"dp": 4.0, "flow": 1.0})
    'clogged_filter'
    >>> recall(memory, {"dp": -4.0, "flow": -5.0}) is None
    True
    """
    now = set(directions(z, z_min=z_min).items())
    latest_first = reversed(list(memory))  # of equally specific ones, the latest correction
    best = max((s for s in latest_first if s and s <= now), key=len, default=None)
    return None if best is None else memory[best]
