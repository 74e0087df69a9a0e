"""MQTT telemetry into TimescaleDB: validated, batched, idempotent, acknowledged after commit."""

from ingest.config import IngestSettings
from ingest.service import Ingestor
from ingest.validate import Accepted, Policy, Rejected, check
from ingest.writer import Writer

__all__ = ["Accepted", "IngestSettings", "Ingestor", "Policy", "Rejected", "Writer", "check"]
