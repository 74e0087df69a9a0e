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


class PmPlanFields(In):
    every_days: int | None = Field(None, gt=0, le=3650, description="calendar interval")
    every_weeks: int | None = Field(None, gt=0, le=520, description="or in weeks")
    anchor: Literal["fixed", "floating"] | None = Field(
        None, description="fixed: from start_at; floating: from the last completion"
    )
    meter: MeterName | None = Field(None, description="running_hours, starts or another")
    every_meter: float | None = Field(None, gt=0, le=1e9, description="meter interval")
    lead_days: int | None = Field(None, ge=0, le=365, description="open this many days early")
    lead_meter: float | None = Field(None, ge=0, le=1e9, description="open this much early")
    priority: Literal["P0", "P1", "P2"] | None = None
    active: bool | None = None


class PmPlanIn(PmPlanFields):
    name: Short
    asset: Id
    start_at: AwareDatetime | None = Field(None, description="first due (fixed); default now")
    start_meter: float | None = Field(None, ge=0, le=1e12)


class PmPlanPatch(PmPlanFields):
    name: Short | None = None


class PmPlanOut(BaseModel):
    id: int
    name: str
    asset: str
    every_days: int | None
    anchor: str
    meter: str | None
    every_meter: float | None
    lead_days: int
    lead_meter: float
    priority: str
    start_at: datetime
    start_meter: float
    active: bool
    created_at: datetime


class OccurrenceOut(BaseModel):
    id: int
    plan_id: int
    key: str
    trigger: str
    due_at: datetime
    meter_due: float | None
    outcome: str
    ticket_id: int | None
    state: str | None
    resolved_at: datetime | None
    done_meter: float | None


class ForecastOut(BaseModel):
    plan_id: int
    plan: str
    asset: str
    site: str
    trigger: str
    due_at: datetime
    meter_due: float | None
    meter_now: float | None = None
    open_ticket: int | None
