"""The sample OPC UA node map shipped in profiles/opcua/ is the one docs/gateway.md walks
through, and loads under the gateway's own validation (a map the docs show but the
gateway refuses, or a drift between the two, fails here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.opcua.nodemap import load_nodemap

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "profiles" / "opcua" / "acme_pump_ua.yaml"


def test_sample_nodemap_loads_and_is_the_documented_one() -> None:
    nm = load_nodemap(SAMPLE)
    assert nm.nodemap == "acme_pump_ua" and nm.asset_class == "centrifugal_pump"
    assert [n.metric for n in nm.nodes] == [
        "speed_rpm",
        "current_l1_a",
        "bearing_temp_c",
        "running",
    ]
    doc = (ROOT / "docs" / "gateway.md").read_text()
    start = doc.index("```yaml\nnodemap: acme_pump_ua") + len("```yaml\n")
    documented = yaml.safe_load(doc[start : doc.index("```", start)])
    assert yaml.safe_load(SAMPLE.read_text()) == documented
