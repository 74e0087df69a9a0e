"""The ``ingest`` settings section (``ingest:`` in forewarn.yaml, ``FOREWARN_INGEST__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from forewarn.contract import topics
from forewarn.settings import Section, Settings, section

WriteMode = Literal["staging", "optimistic"]


class IngestSettings(Section):
    """Ingest policy, batching, backpressure, retention and metrics knobs."""

    topic_filter: str = Field(
        topics.TELEMETRY_FILTER, description="telemetry filter, e.g. forewarn/v1/site-a/+/telemetry"
    )
    group: str | None = Field(
        None, description="shared-subscription group ($share/<group>/...); None = sole consumer"
    )
    client_name: str = Field(
        "ingest", pattern=r"^[A-Za-z0-9_-]{1,48}$", description="stable part of the client id"
    )
    persistent_session: bool = Field(
        True, description="clean_session=False: the broker keeps messages while ingest is down"
    )
    auto_register: bool = Field(True, description="create unknown assets on first telemetry")
    max_future_s: float = Field(300.0, ge=0, description="reject samples further in the future")
    max_past_s: float = Field(
        90 * 86400.0, gt=0, description="reject samples older than this (store-and-forward bound)"
    )
    max_payload_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="larger messages are dead-lettered before parsing (the broker's own "
        "max_packet_size is 16 MiB; a full 10,000-sample gateway batch is a few MB)",
    )
    batch_max_rows: int = Field(50_000, ge=1, description="flush after this many rows")
    max_pending_messages: int = Field(
        2_000, ge=1, description="bounded in-memory queue of received, unacknowledged messages"
    )
    write_mode: WriteMode = Field(
        "optimistic",
        description="staging: COPY into a temp table, then INSERT ... ON CONFLICT DO NOTHING; "
        "optimistic: COPY straight into telemetry, and the staging path only on a conflict",
    )
    retry_max_s: float = Field(10.0, gt=0, description="cap of the exponential retry backoff")
    retention_days: float | None = Field(
        None, gt=0, description="drop raw telemetry chunks older than this (None = keep)"
    )
    rollup_retention_days: float | None = Field(None, gt=0)
    maintenance_interval_s: float = Field(
        60.0, gt=0, description="rollup refresh and retention job period"
    )
    metrics_interval_s: float = Field(10.0, gt=0, description="log and store metrics this often")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus text endpoint port (None = off)"
    )

    @field_validator("topic_filter")
    @classmethod
    def _filter(cls, value: str) -> str:
        parts = value.split("/")
        if len(parts) != 5 or "/".join(parts[:2]) != topics.ROOT or parts[4] != "telemetry":
            raise ValueError(f"must look like {topics.TELEMETRY_FILTER}")
        return value

    @field_validator("group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        return None if value is None else topics.check_id(value, "group")

    def subscription(self) -> str:
        return topics.shared(self.group, self.topic_filter) if self.group else self.topic_filter


def load(settings: Settings) -> IngestSettings:
    return section(settings, "ingest", IngestSettings)
