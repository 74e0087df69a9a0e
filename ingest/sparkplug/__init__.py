"""Sparkplug B as an input format of ingest: decode, resolve aliases, hand rows to the writer.

Sparkplug B (Eclipse Sparkplug 3.0) devices publish protobuf payloads on
``spBv1.0/{group}/{NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH}/{edge}[/{device}]``. This
package turns them into the same ``Accepted``/``Rejected`` items the JSON intake makes,
so they go through the same writer, transaction and acknowledgement (see docs/contract.md).
"""

from ingest.sparkplug.intake import SparkplugIntake
from ingest.sparkplug.writer import SparkplugWriter

__all__ = ["SparkplugIntake", "SparkplugWriter"]
