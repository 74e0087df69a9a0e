"""An anomaly event's PUBACK is not stuck behind a full inbox.

paho's network thread blocks in ``on_message`` while the inbox is full, and the PUBACK of an
event comes behind the telemetry it is still trying to hand over; a worker with a backlog
(a restart, a burst) waited ``limit_s`` (30 s) for every event. Measured with
bench/detectors_service_cost.py --live at 4x real time before the fix: 10,000 queued.
"""

from __future__ import annotations

import threading
import time

from detectors.service import DetectorService, DetectorsSettings, Inbound
from forewarn.settings import Settings


class _Info:
    """paho's MQTTMessageInfo as far as the service reads it."""

    def __init__(self) -> None:
        self.published = False

    def is_published(self) -> bool:
        return self.published


def _msg(mid: int) -> Inbound:
    return Inbound(f"forewarn/v1/s/a{mid}/telemetry", b"{}", mid, 1, 0)


def test_event_puback_behind_a_full_inbox_arrives_and_order_is_kept() -> None:
    svc = DetectorService(Settings(), DetectorsSettings(queue_max=10, worker="u"))
    for mid in range(10):
        svc.inbox.put(_msg(mid))
    info = _Info()

    def network() -> None:  # paho's thread: two more messages, then the PUBACK behind them
        svc.inbox.put(_msg(10))
        svc.inbox.put(_msg(11))
        info.published = True

    paho = threading.Thread(target=network, daemon=True)
    paho.start()
    t0 = time.monotonic()
    svc._await_puback(info, limit_s=10.0)  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 2.0
    paho.join(2)
    # nothing lost or reordered: what was taken aside comes first, then the inbox
    rest = []
    while not svc.inbox.empty():
        rest.append(svc.inbox.get_nowait())
    assert [m.mid for m in [*svc.held, *rest]] == list(range(12))
