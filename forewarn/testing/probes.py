"""Test helpers for the observability endpoints: scrape and parse, probe status."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition (raises on a malformed one)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def scrape(base: str) -> Samples:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
        return parse(r.read().decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def probe(base: str, path: str) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of ``GET base+path``, 5xx included."""
    try:
        with urllib.request.urlopen(f"{base}{path}", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
