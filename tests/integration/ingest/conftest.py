"""Fixtures for ingest integration tests (helpers live in ingest_helpers)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from ingest_helpers import Publisher


@pytest.fixture
def site() -> str:
    return f"s{secrets.token_hex(4)}"


@pytest.fixture
def publisher(broker: Any) -> Iterator[Publisher]:
    p = Publisher(broker.url)
    yield p
    p.close()
