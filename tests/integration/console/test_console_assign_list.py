"""The console's assign list shows only the engineers routing finds qualified for the
ticket, with routing's own score. Tried: an engineer without the asset class's skill, one
with the skill but unavailable, one off shift and not on call; none of them may appear; a ticket nobody
is qualified for shows a message instead of the form."""

from __future__ import annotations

import re
from typing import Any

from console_helpers import anomaly_event, auth, login, seed_asset, uid
from fastapi.testclient import TestClient


def _options(html: str) -> dict[int, float]:
    form = html.split('id="assign-form"', 1)[1].split("</form>", 1)[0]
    return {
        int(i): float(s)
        for i, s in re.findall(r'<option value="(\d+)" data-score="([\d.-]+)"', form)
    }


def test_assign_list_shows_only_qualified_engineers_with_routing_scores(
    client: TestClient, browser_client: Any, console_tokens: dict[str, str], db: Any, engineer: Any
) -> None:
    cls = f"compressor_{uid()}"
    best, _ = engineer(asset_classes=[cls], fault_modes=["bearing_wear"])
    plain, _ = engineer(asset_classes=[cls])
    unskilled, _ = engineer(asset_classes=[f"other_{uid()}"], fault_modes=["bearing_wear"])
    away, _ = engineer(asset_classes=[cls], available=False)
    off, _ = engineer(asset_classes=[cls], shifts=[], on_call=False)
    asset, at = seed_asset(db, asset_class=cls)
    r = client.post(
        "/anomalies", json=anomaly_event(asset, at), headers=auth(console_tokens["integration"])
    )
    assert r.status_code == 201, r.text
    tid = r.json()["ticket_id"]
    t = client.get(f"/tickets/{tid}", headers=auth(console_tokens["admin"])).json()
    assert t["engineer_id"] == best  # routing chose the one with the fault-mode skill
    decided = {c["engineer_id"]: c for c in t["routing"][-1]["candidates"]}

    staff = browser_client()
    login(staff, console_tokens["dispatcher"])
    listed = _options(staff.get(f"/console/tickets/{tid}").text)
    assert set(listed) == {best, plain}
    assert unskilled not in listed and away not in listed and off not in listed
    # Routing's score: plain's load is unchanged since the decision; best now carries this
    # ticket, which routing counts as -5 (one open ticket).
    assert listed[plain] == decided[plain]["score"]
    assert listed[best] == decided[best]["score"] - 5
    assert listed[best] > listed[plain]  # the fault-mode skill counts

    nobody_cls = f"kiln_{uid()}"
    lonely, at2 = seed_asset(db, asset_class=nobody_cls)
    r = client.post(
        "/anomalies", json=anomaly_event(lonely, at2), headers=auth(console_tokens["integration"])
    )
    page = staff.get(f"/console/tickets/{r.json()['ticket_id']}").text
    assert 'id="assign-form"' not in page and 'id="no-qualified"' in page
