"""The ``ticketing`` settings section (validated by ``forewarn.settings.section``)."""

from __future__ import annotations

from pydantic import Field

from forewarn.settings import Section, Settings, section


class TicketingSettings(Section):
    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8080, ge=1, le=65535)
    pool_min: int = Field(1, ge=1, le=50)
    pool_max: int = Field(8, ge=1, le=200)
    mqtt_enabled: bool = Field(True, description="consume anomalies and publish ticket events")
    mqtt_group: str | None = Field(
        None, description="shared-subscription group, to run several ticketing workers"
    )
    sla_scan_interval_s: float = Field(15.0, gt=0, le=3600)
    webhook_interval_s: float = Field(2.0, gt=0, le=3600)
    webhook_max_attempts: int = Field(8, ge=1, le=50)
    webhook_backoff_s: float = Field(5.0, gt=0, le=3600, description="first retry delay, doubled")
    webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    idempotency_ttl_h: float = Field(24.0, gt=0, description="how long a key replays")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="larger requests get 413")
    distance_scale_km: float = Field(100.0, gt=0, description="distance at which its score is 0")
    webhook_allow_private: bool = Field(
        False, description="allow webhook targets on loopback or private networks"
    )
    login_per_minute: int = Field(10, ge=1, le=10_000, description="console logins per client")
    track_per_minute: int = Field(
        30, ge=1, le=100_000, description="tracking-code lookups per client address"
    )
    maintenance_scan_interval_s: float = Field(
        60.0, gt=0, le=86400, description="meter derivation and preventive-plan scan period"
    )
    labour_rate_per_h: float = Field(
        60.0, ge=0, description="default labour cost per hour for time entries"
    )


def ticketing_settings(settings: Settings) -> TicketingSettings:
    return section(settings, "ticketing", TicketingSettings)
