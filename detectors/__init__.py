"""Streaming anomaly detection per asset: ensemble scoring, alarm latch, evidence, replay."""

from detectors.asset import DETECTOR_NAME, DETECTOR_VERSION, AssetDetector, StateError, Step
from detectors.configuration import ClassConfig, DetectorConfig, load_config
from detectors.history_csv import ReplayError, read_csv
from detectors.replay import replay

__all__ = [
    "DETECTOR_NAME",
    "DETECTOR_VERSION",
    "AssetDetector",
    "ClassConfig",
    "DetectorConfig",
    "ReplayError",
    "StateError",
    "Step",
    "load_config",
    "read_csv",
    "replay",
]
