"""MQTT topic names of the v1 wire contract.

Topics carry routing data (site, asset, gateway) so that brokers can apply ACLs
per site and clustered brokers can hash an asset to one consumer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from forewarn.errors import ContractError

ROOT = "forewarn/v1"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ID = re.compile(ID_PATTERN)

Kind = Literal["telemetry", "anomaly", "status", "ticket", "stock"]
ALL_SITES = "all"  # the site level of a message about something shared by all sites

TELEMETRY_FILTER = f"{ROOT}/+/+/telemetry"
ANOMALY_FILTER = f"{ROOT}/+/+/anomaly"
STATUS_FILTER = f"{ROOT}/+/gateways/+/status"
TICKET_FILTER = f"{ROOT}/+/tickets/+/event"
STOCK_FILTER = f"{ROOT}/+/stock/low"


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid topic level, else raise ContractError."""
    if not _ID.match(value):
        raise ContractError(
            f"invalid {what} {value!r}: use 1-64 of A-Z a-z 0-9 _ . - (no '/', '+', '#')"
        )
    return value


def telemetry(site: str, asset: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/{check_id(asset, 'asset')}/telemetry"


def anomaly(site: str, asset: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/{check_id(asset, 'asset')}/anomaly"


def gateway_status(site: str, gateway: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/gateways/{check_id(gateway, 'gateway')}/status"


def ticket_event(site: str, ticket: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/tickets/{check_id(ticket, 'ticket')}/event"


def stock_low(site: str | None) -> str:
    """Where ``StockLow`` goes: the store's site, or ``all`` for a store shared by all."""
    return f"{ROOT}/{check_id(site or ALL_SITES, 'site')}/stock/low"


def shared(group: str, topic_filter: str) -> str:
    """A shared-subscription filter: the broker spreads messages over the group."""
    return f"$share/{check_id(group, 'group')}/{topic_filter}"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed v1 topic."""

    kind: Kind
    site: str
    asset: str | None = None
    gateway: str | None = None
    ticket: str | None = None


@lru_cache(maxsize=8192)  # a fleet's topics repeat every message; a refused one is not kept
def parse(topic: str) -> Topic:
    """Parse a v1 topic; raise ContractError naming what is wrong."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:2]) != ROOT:
        raise ContractError(f"not a {ROOT} topic: {topic!r}")
    site = check_id(parts[2], "site")
    if len(parts) == 5 and parts[4] in ("telemetry", "anomaly"):
        kind: Kind = "telemetry" if parts[4] == "telemetry" else "anomaly"
        return Topic(kind=kind, site=site, asset=check_id(parts[3], "asset"))
    if len(parts) == 5 and parts[3:] == ["stock", "low"]:
        return Topic(kind="stock", site=site)
    if len(parts) == 6 and parts[3] == "gateways" and parts[5] == "status":
        return Topic(kind="status", site=site, gateway=check_id(parts[4], "gateway"))
    if len(parts) == 6 and parts[3] == "tickets" and parts[5] == "event":
        return Topic(kind="ticket", site=site, ticket=check_id(parts[4], "ticket"))
    raise ContractError(f"unknown {ROOT} topic shape: {topic!r}")
