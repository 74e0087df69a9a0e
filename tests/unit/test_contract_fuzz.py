"""The decoder and the published JSON Schema agree, on generated and on mutated payloads.

Vendors build against ``docs/schema``; every service decodes with ``contract.decode``. A
payload that one accepts and the other refuses would be stored by one path and refused by
another, so this checks, with payloads hypothesis-jsonschema generates from the schema:
- every payload the schema generates decodes;
- a payload with one value replaced by anything JSON can carry (numbers as strings, booleans
  as numbers, Unix-second timestamps, timestamps without seconds or offset, nulls, objects)
  decodes exactly when the schema's validator (formats checked) accepts it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from forewarn.contract import (
    AnomalyEvent,
    DetectorFeedback,
    GatewayStatus,
    TelemetryBatch,
    TicketEvent,
    decode,
    json_schema,
)
from forewarn.errors import ContractError

MODELS = {
    "telemetry": TelemetryBatch,
    "anomaly": AnomalyEvent,
    "status": GatewayStatus,
    "ticket": TicketEvent,
    "feedback": DetectorFeedback,
}
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# Python's re lets "$" match before a final newline, ECMA-262 (JSON Schema's dialect) and the
# decoder do not: keep newlines out of generated strings so the oracle is not the one wrong.
_text = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=12)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    _int64,
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
    st.sampled_from(
        [
            "2.3",
            "1",
            "yes",
            "true",
            1767225600,
            1767225600.5,
            "2026-01-01T00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.5+01:00",
            "2026-13-01T00:00:00Z",
            5.0,
            -1,
            2**63,
        ]
    ),
)
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)


def _draft7(node: Any) -> Any:
    """hypothesis-jsonschema reads draft 7, where a tuple's ``prefixItems`` is ``items: [...]``."""
    if isinstance(node, dict):
        out = {k: _draft7(v) for k, v in node.items() if k != "prefixItems"}
        if "prefixItems" in node:
            out["items"] = _draft7(node["prefixItems"])
            out["additionalItems"] = False
        return out
    if isinstance(node, list):
        return [_draft7(v) for v in node]
    return node


def _generate(name: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = _draft7(json_schema(name))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return from_schema(schema)


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        json_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _accepts(name: str, doc: Any) -> bool:
    try:
        decode(MODELS[name], json.dumps(doc).encode())
    except ContractError:
        return False
    return True


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def test_the_oracle_checks_timestamps() -> None:
    """Without rfc3339-validator, jsonschema skips "date-time" silently and proves nothing."""
    assert "date-time" in Draft202012Validator.FORMAT_CHECKER.checkers


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_payload_the_schema_generates_decodes(name: str) -> None:
    @FUZZ
    @given(_generate(name))
    def check(doc: dict[str, Any]) -> None:
        assert _validator(name).is_valid(doc)
        decode(MODELS[name], json.dumps(doc).encode())  # raises with the reason if refused

    check()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_decoder_and_schema_agree_on_mutated_payloads(name: str) -> None:
    validator = _validator(name)

    @FUZZ
    @given(_generate(name), st.data())
    def check(doc: dict[str, Any], data: st.DataObject) -> None:
        paths = _paths(doc)
        if not paths:
            return
        path = data.draw(st.sampled_from(paths), label="path")
        mutated = _replace(doc, path, data.draw(_json, label="value"))
        schema_says = validator.is_valid(mutated)
        assert _accepts(name, mutated) == schema_says, (
            f"schema {'accepts' if schema_says else 'refuses'} {json.dumps(mutated)[:300]}"
        )

    check()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("values", {"m": "2.3"}),
        ("values", {"m": True}),
        ("seq", "1"),
        ("historical", "yes"),
        ("historical", 1),
        ("ts", 1767225600),
    ],
)
def test_the_reported_loose_payloads_are_refused(field: str, value: Any) -> None:
    """The red team's cases (issue 14, item 9): each was stored over MQTT before."""
    doc: dict[str, Any] = {
        "asset": "a1",
        "seq": 1,
        "samples": [{"ts": "2026-01-01T00:00:00Z", "values": {"m": 2.3}}],
    }
    if field in ("values", "ts"):
        doc["samples"][0][field] = value
    else:
        doc[field] = value
    assert not _validator("telemetry").is_valid(doc)
    with pytest.raises(ContractError) as err:
        decode(TelemetryBatch, json.dumps(doc).encode())
    assert field in (err.value.field or "")


def test_an_integral_float_is_an_integer_as_json_schema_says() -> None:
    doc = {
        "asset": "a1",
        "seq": 5.0,
        "samples": [{"ts": "2026-01-01T00:00:00Z", "values": {"m": 1}}],
    }
    assert _validator("telemetry").is_valid(doc)
    assert decode(TelemetryBatch, json.dumps(doc).encode()).seq == 5


def test_anomaly_score_as_a_string_is_refused_as_over_http() -> None:
    event = {
        "event_id": "e1",
        "site": "s1",
        "asset": "a1",
        "ts": "2026-01-01T00:00:00Z",
        "detector": {"name": "d", "version": "1", "config_hash": "h"},
        "score": "0.95",
        "severity": "critical",
    }
    with pytest.raises(ContractError, match="score"):
        decode(AnomalyEvent, json.dumps(event).encode())
    event["score"] = 0.95
    assert decode(AnomalyEvent, json.dumps(event).encode()).score == 0.95
