"""The ``notifications`` settings section."""

from __future__ import annotations

from pydantic import Field

from forewarn.settings import Section, Settings, section


class NotificationSettings(Section):
    enabled: bool = Field(True, description="queue and send notifications to people")
    interval_s: float = Field(5.0, gt=0, le=3600, description="how often the sender runs")
    max_attempts: int = Field(10, ge=1, le=100)
    backoff_s: float = Field(30.0, gt=0, le=3600, description="first retry delay, doubled")
    max_backoff_s: float = Field(3600.0, gt=0, description="retry delay ceiling")
    public_url: str = Field(
        "http://127.0.0.1:8080", description="base of the links in messages (the console)"
    )
    default_timezone: str = Field("UTC", description="time zone of times in messages")


def notification_settings(settings: Settings) -> NotificationSettings:
    return section(settings, "notifications", NotificationSettings)
