"""Notifications to people: Apprise channels per engineer and per role, templates per event,
quiet hours, on-call rotations and escalation chains with acknowledge-to-stop.

Messages are rows of ``notification_outbox`` written by a hook on ``Tx.emit``, so they
commit with the ticket change they announce (and a failing hook never fails that change);
:class:`~ticketing.notifications.sender.NotificationSender` delivers them at least once.
"""

from collections.abc import Callable
from typing import Any

from forewarn.settings import Settings
from ticketing.notifications.config import NotificationSettings, notification_settings
from ticketing.notifications.events import on_event
from ticketing.notifications.oncall import advance_chains
from ticketing.notifications.sender import NotificationSender
from ticketing.store import Store

Job = tuple[str, Callable[[], Any], float]

__all__ = [
    "Job",
    "NotificationSender",
    "NotificationSettings",
    "advance_chains",
    "install",
    "notification_settings",
    "on_event",
]


def install(store: Store, settings: Settings) -> tuple[NotificationSender, list[Job]]:
    """Hook the outbox into ``store``; return the sender and the jobs to schedule."""
    cfg = notification_settings(settings)
    sender = NotificationSender(
        store,
        max_attempts=cfg.max_attempts,
        backoff_s=cfg.backoff_s,
        max_backoff_s=cfg.max_backoff_s,
    )
    store.options.public_url = cfg.public_url.rstrip("/")
    if not cfg.enabled:
        return sender, []
    store.options.emit_hooks.append(on_event)
    jobs: list[Job] = [
        ("notifications", sender.deliver_due, cfg.interval_s),
        ("escalation_chains", lambda: advance_chains(store), 30.0),
    ]
    return sender, jobs
