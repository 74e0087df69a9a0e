"""Request and response models of the maintenance API (strict: unknown fields refused)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, HttpUrl, StringConstraints

from ticketing.schemas import NO_NUL, Id, In, Short, Storable

Level = Literal["site", "line", "machine", "component"]
Criticality = Literal["A", "B", "C"]
Status = Literal["draft", "active", "inactive", "retired"]
Label = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL), Storable]
MeterName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class Document(In):
    title: Short
    url: HttpUrl


class AssetFields(In):
    name: Label | None = None
    parent: Id | None = Field(None, description="the asset one level up (site, line, machine)")
    level: Level | None = None
    asset_class: Id | None = None
    vendor: Label | None = None
    model: Label | None = None
    serial: Label | None = None
    criticality: Criticality | None = Field(
        None, description="A raises a predictive ticket's priority one step"
    )
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    documents: list[Document] | None = Field(None, max_length=50)
    commissioned_on: date | None = None
    status: Status | None = None


class AssetIn(AssetFields):
    asset: Id
    site: Id


class AssetPatch(AssetFields):
    site: Id | None = None


class AssetOut(BaseModel):
    asset: str
    site: str
    name: str | None
    parent: str | None
    level: str
    asset_class: str | None
    vendor: str | None
    model: str | None
    serial: str | None
    criticality: str
    lat: float | None
    lon: float | None
    documents: list[dict[str, Any]]
    commissioned_on: date | None
    status: str
    registered_at: datetime
    last_seen: datetime | None
    updated_at: datetime | None


class MeterOut(BaseModel):
    meter: str
    value: float
    updated_at: datetime


class AssetHistory(BaseModel):
    asset: AssetOut
    children: list[str]
    meters: list[MeterOut]
    tickets: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    pm_done: list[dict[str, Any]]


class ImportResult(BaseModel):
    created: int
    updated: int


class ReadingIn(In):
    meter: MeterName
    value: float = Field(ge=0, le=1e12)
    at: AwareDatetime | None = Field(None, description="when read; default now")
