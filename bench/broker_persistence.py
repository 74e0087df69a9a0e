"""What saving Mosquitto's store on every change would cost (issue 14, item 6).

A SIGKILLed broker loses what it acknowledged since its last save (``autosave_interval``).
Saving on every change (``autosave_on_changes true`` + ``autosave_interval 1``) closes that
window, but Mosquitto 2.0 rewrites its whole store each time. This measures QoS 1 publish
throughput (PUBACKed messages a second, one publisher, 1 kB telemetry-sized messages) into a
persistent session whose subscriber is away, so the queue grows as it does while ingest is
down: a bare broker (no persistence), the project's setting (save every 60 s) and save on
every change, all in the same run. The figures justify the choice in docs/security.md:
keep the 60 s bound and let gateways hold acknowledged batches instead.

    python -m bench.broker_persistence   (FOREWARN_BENCH_QUICK=1 for a short run)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from forewarn import mqtt
from forewarn.settings import MqttSettings
from forewarn.testing import Broker

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = bool(os.environ.get("FOREWARN_BENCH_QUICK"))
MESSAGES = 1000 if QUICK else 4000
CAP_S = 20.0 if QUICK else 60.0  # stop a variant that falls this far behind
PAYLOAD = b"x" * 1000
console = Console()

VARIANTS = {
    "bare (persistence false)": "persistence false",
    "autosave_interval 60 (project)": "",
    "save on every change": "autosave_on_changes true\nautosave_interval 1",
}


def _publish(settings: MqttSettings, n: int) -> tuple[int, float]:
    """QoS 1, up to 100 in flight; returns (acknowledged, seconds)."""
    client = mqtt.paho_client(settings, "bench-persist-pub", max_inflight=100)
    mqtt.connect_paho(client, settings)
    start = time.monotonic()
    infos = []
    try:
        for _ in range(n):
            infos.append(client.publish("forewarn/v1/bench/a/telemetry", PAYLOAD, qos=1))
            if time.monotonic() - start > CAP_S:
                break
        deadline = start + CAP_S
        for info in infos:
            while not info.is_published() and time.monotonic() < deadline:
                time.sleep(0.001)
        took = time.monotonic() - start
        return sum(1 for i in infos if i.is_published()), took
    finally:
        client.disconnect()
        client.loop_stop()


def measure(extra: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(home=Path(tmp), extra_conf=extra).start()
        try:
            s = MqttSettings(url=broker.url)
            sub = mqtt.paho_client(s, "bench-persist-away", clean_session=False)
            mqtt.connect_paho(sub, s)
            sub.subscribe("forewarn/v1/+/+/telemetry", qos=1)
            time.sleep(0.2)
            sub.disconnect()
            sub.loop_stop()
            acked, took = _publish(s, MESSAGES)
        finally:
            broker.kill()
    return {"acked": acked, "seconds": round(took, 2), "msgs_per_s": round(acked / took, 1)}


def main() -> None:
    out: dict[str, Any] = {"messages": MESSAGES, "payload_bytes": len(PAYLOAD), "variants": {}}
    for name, extra in VARIANTS.items():
        out["variants"][name] = measure(extra)
    bare = out["variants"]["bare (persistence false)"]["msgs_per_s"]
    table = Table(title=f"QoS 1 into an absent persistent session ({MESSAGES} x 1 kB)")
    for col in ("broker", "acked", "s", "msgs/s", "vs bare"):
        table.add_column(col)
    for name, r in out["variants"].items():
        r["ratio_to_bare"] = round(r["msgs_per_s"] / bare, 3) if bare else None
        table.add_row(
            name, str(r["acked"]), str(r["seconds"]), str(r["msgs_per_s"]), str(r["ratio_to_bare"])
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "broker_persistence.json").write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"wrote {RESULTS / 'broker_persistence.json'}")


if __name__ == "__main__":
    main()
