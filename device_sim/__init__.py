"""Fleet simulator: plausible asset signals, slow degradations, ground truth; served over
Modbus TCP (vendor register maps) or published as MQTT-native devices (contract v1).

See docs/device_sim.md.
"""

from device_sim.classes import CLASSES, SIGNATURES
from device_sim.engine import Fleet, Frame
from device_sim.export import export_history
from device_sim.scenario import (
    MODES,
    MODES_BY_CLASS,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from device_sim.truth import TruthEvent, write_truth

__all__ = [
    "CLASSES",
    "MODES",
    "MODES_BY_CLASS",
    "SIGNATURES",
    "Fleet",
    "Frame",
    "Scenario",
    "ScenarioError",
    "TruthEvent",
    "export_history",
    "load_scenario",
    "parse_scenario",
    "write_truth",
]
