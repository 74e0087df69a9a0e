"""Detector episodes through ticketing: the news of one alarm episode (a revised fault mode,
a spike, an escalation) updates the ticket it opened, and the fault mode an engineer finds
comes back to the detector through the feedback table and names the next episode."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from ticketing_helpers import anomaly, auth, uid

from detectors import AssetDetector, load_config, store
from forewarn.contract import AnomalyEvent, encode


def test_an_episodes_news_updates_its_ticket_and_never_opens_a_second(
    client, tokens, make_asset
) -> None:
    """What the soak saw: a revised fault-mode guess opened a second ticket. Events of one
    detector episode now update the ticket it opened: renamed (history keeps old and new),
    a spike attached, an escalation raising the priority; a stale update renames nothing."""
    h, admin = auth(tokens["integration"]), auth(tokens["admin"])
    asset = make_asset(f"compressor_{uid()}")
    ep = f"ep-{uid()}"

    def send(**kw: Any) -> dict[str, Any]:
        r = client.post("/anomalies", json=anomaly(asset, episode=ep, **kw), headers=h)
        assert r.status_code in (200, 201), r.text
        return r.json()

    opened = send(fault="cavitation", revision=0)
    assert opened["outcome"] == "opened"
    tid = opened["ticket_id"]
    revised = send(fault="clogged_filter", revision=1, update=["fault_mode"])
    assert revised == {**revised, "outcome": "evidence", "ticket_id": tid, "priority": "P2"}
    spike = send(
        fault="clogged_filter", severity="critical", revision=2, update=["spike", "escalation"]
    )
    assert spike == {**spike, "outcome": "evidence", "ticket_id": tid, "priority": "P1"}
    late = send(fault="seal_leak", revision=1, update=["fault_mode"])  # reordered delivery
    assert late == {**late, "outcome": "evidence", "ticket_id": tid}
    cleared = send(fault=None, state="cleared", revision=3)
    assert cleared == {**cleared, "outcome": "cleared", "ticket_id": tid}

    listed = client.get(f"/tickets?asset={asset}", headers=admin).json()
    assert [t["id"] for t in listed] == [tid]
    ticket = client.get(f"/tickets/{tid}", headers=admin).json()
    assert ticket["fault_mode"] == "clogged_filter" and ticket["priority"] == "P1"
    assert ticket["title"] == f"clogged filter suspected on {asset}"
    assert ticket["evidence_total"] == 5
    events = client.get(f"/tickets/{tid}/events", headers=admin).json()
    (renamed,) = [e for e in events if e["action"] == "fault_mode_revised"]
    assert renamed["before"] == {
        "fault_mode": "cavitation",
        "title": f"cavitation suspected on {asset}",
    }
    assert renamed["after"]["fault_mode"] == "clogged_filter" and ep in renamed["after"]["note"]
    notes = [e["after"]["note"] for e in events if e["action"] == "evidence_attached"]
    assert any("spike" in n and "escalation" in n for n in notes), notes

    # A new episode of the same fault joins the still-open ticket (one per asset and fault).
    ep = f"ep-{uid()}"
    again = send(fault="clogged_filter", revision=0)
    assert again == {**again, "outcome": "evidence", "ticket_id": tid}


def test_news_of_an_episode_whose_ticket_is_resolved_opens_nothing(
    client, tokens, make_asset, make_engineer
) -> None:
    h, admin = auth(tokens["integration"]), auth(tokens["admin"])
    asset = make_asset(f"pump_{uid()}")
    ep = f"ep-{uid()}"
    first = anomaly(asset, fault="cavitation", episode=ep, revision=0)
    tid = client.post("/anomalies", json=first, headers=h).json()["ticket_id"]
    _resolve(client, admin, tid, make_engineer("ep"), "confirmed", "seal_leak")
    # The detector's alarm is still latched ("confirmed" is no repair): its news is a record.
    news = anomaly(asset, fault="seal_leak", episode=ep, revision=1, update=["fault_mode"])
    got = client.post("/anomalies", json=news, headers=h).json()
    assert got == {**got, "outcome": "evidence", "ticket_id": tid}
    listed = client.get(f"/tickets?asset={asset}", headers=admin).json()
    assert [(t["id"], t["state"], t["fault_mode"]) for t in listed] == [
        (tid, "resolved", "cavitation")
    ]


BASE = {"tag_a": 10.0, "tag_b": 50.0, "tag_c": 5.0}  # no role rule knows these tags


def _stream(n: int, start: int, faulty: bool) -> Iterator[tuple[float, dict[str, float]]]:
    rng = random.Random(start)
    for i in range(start, start + n):
        x = {k: v + rng.gauss(0, 0.02 * v) for k, v in BASE.items()}
        if faulty:  # a filter clogs: the pressure drop up, the flow down
            x["tag_a"] *= 1.5
            x["tag_b"] *= 0.7
        yield 1.8e9 + 60.0 * i, x


def _events(det: AssetDetector, n: int, start: int, faulty: bool) -> list[AnomalyEvent]:
    return [e for t, x in _stream(n, start, faulty) if (e := det.update(t, x).event) is not None]


def test_the_fault_mode_found_on_a_repair_names_the_next_episode(
    client, tokens, make_asset, make_engineer, db
) -> None:
    h, admin = auth(tokens["integration"]), auth(tokens["admin"])
    asset = make_asset(f"compressor_{uid()}")
    det = AssetDetector(asset, load_config().for_class("default"), site="site-a")
    json_h = {**h, "content-type": "application/json"}

    def post(events: list[AnomalyEvent]) -> set[int]:
        answers = [client.post("/anomalies", content=encode(e), headers=json_h) for e in events]
        assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
        got = [r.json() for r in answers]
        return {g["ticket_id"] for g in got}

    first = _events(det, 600, 0, False) + _events(det, 100, 600, True)
    assert first and {e.fault_mode for e in first} == {None}
    (tid,) = post(first)
    assert client.get(f"/tickets/{tid}", headers=admin).json()["fault_mode"] == "unknown"
    _resolve(client, admin, tid, make_engineer("fm"), "fixed", "clogged_filter")
    # What the worker owning the asset does at its next feedback poll (detectors.service).
    (fb,) = store.pending_feedback(db, [asset])
    assert (fb.resolution_code, fb.fault_mode, fb.confirmed_fault_mode) == (
        "fixed",
        "unknown",
        "clogged_filter",
    )
    assert fb.event_ids == [e.event_id for e in first]
    found = fb.confirmed_fault_mode
    assert det.feedback(fb.resolution_code, guessed=fb.fault_mode, found=found, events=fb.event_ids)
    # After the repair the reference is learned again; then the filter clogs once more.
    assert not _events(det, 1000, 700, False)
    again = _events(det, 100, 1700, True)
    assert again and again[0].fault_mode == "clogged_filter" and again[0].revision == 0
    (second,) = post(again)
    assert second != tid
    ticket = client.get(f"/tickets/{second}", headers=admin).json()
    assert ticket["title"] == f"clogged filter suspected on {asset}"


def _resolve(client: Any, admin: Any, tid: int, engineer: Any, code: str, found: str) -> None:
    """Assign, walk to site and resolve naming the fault found, through the real API."""
    client.post(f"/tickets/{tid}/assign", json={"engineer_id": engineer}, headers=admin)
    for to in ("accepted", "en_route", "on_site"):
        client.post(f"/tickets/{tid}/transitions", json={"to": to}, headers=admin)
    body = {"to": "resolved", "resolution_code": code, "confirmed_fault_mode": found}
    r = client.post(f"/tickets/{tid}/transitions", headers=admin, json=body)
    assert r.status_code == 200, r.text
