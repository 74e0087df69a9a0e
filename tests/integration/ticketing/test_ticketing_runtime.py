"""The app's runtime (pool, MQTT consumer and publisher, scheduler) starts and stops with it."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from ticketing.app import create_app


def _wait(pred: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := pred()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return got


def test_runtime_starts_everything_and_stops_it_again_twice(settings) -> None:
    app = create_app(settings, background=True, mqtt=True)
    runtime = app.state.runtime
    assert runtime.store.options.distance_scale_km == app.state.config.distance_scale_km
    assert any(job_id == "maintenance" for job_id, _, _ in runtime.jobs)  # added by cmms
    for _ in range(2):  # an app may be started again after a stop (the pool is renewed)
        with TestClient(app) as client:
            assert _wait(lambda: app.state.mqtt_ready.is_set())
            ready = _wait(lambda: client.get("/readyz").status_code == 200)
            assert ready, client.get("/readyz").json()
            assert set(client.get("/readyz").json()["checks"]) == {"database", "broker"}
            jobs = {j.id for j in runtime._scheduler.get_jobs()}
            assert {"sla", "webhooks", "idempotency", "maintenance"} <= jobs
            publisher = runtime.publisher
            assert publisher is not None and publisher.is_connected()
        assert runtime.publisher is None and runtime._scheduler is None
        assert runtime._consumer is None and runtime.store.pool.closed
        assert not publisher.is_connected()
