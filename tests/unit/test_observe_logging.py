"""One log format option for every service: ``observe.log_format`` text or json.

Bad input tried: a URL with credentials in a message and in a traceback (redacted in both),
an unknown format name (refused at load, naming the key).
"""

from __future__ import annotations

import json
import logging
import os

import pytest

from forewarn import observe
from forewarn.errors import SettingsError
from forewarn.settings import load


@pytest.fixture(autouse=True)
def _restore_root() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_service_level_and_redacted_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = load(path=os.devnull, environ={"FOREWARN_OBSERVE__LOG_FORMAT": "json"})
    observe.setup_logging(s, "ingest")
    log = logging.getLogger("forewarn.test")
    log.warning("broker %s refused", "mqtt://user:s3cret@broker:1883")
    try:
        raise RuntimeError("webhook https://u:hunter2@example.com/x failed")
    except RuntimeError:
        log.exception("delivery failed")
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert [x["level"] for x in lines] == ["WARNING", "ERROR"]
    first = lines[0]
    assert first["service"] == "ingest" and first["logger"] == "forewarn.test"
    assert first["message"] == "broker mqtt://***@broker:1883 refused"
    assert first["ts"].endswith("+00:00")
    assert "hunter2" not in lines[1]["exc"] and "RuntimeError" in lines[1]["exc"]


def test_text_is_the_default_and_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    observe.setup_logging(load(path=os.devnull, environ={}), "detectors")
    logging.getLogger("forewarn.test").info("scored %d", 3)
    err = capsys.readouterr().err
    assert err.endswith("INFO forewarn.test: scored 3\n") and not err.startswith("{")


def test_an_unknown_format_is_refused_by_name() -> None:
    s = load(path=os.devnull, environ={"FOREWARN_OBSERVE__LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match=r"observe\.log_format"):
        observe.observe_settings(s)
