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
    every_days: int | None = Field(
        None, gt=0, le=3650, description="calendar interval in days (a week: 7)"
    )
    anchor: Literal["fixed", "floating"] | None = Field(
        None, description="fixed: from start_at; floating: from the last completion"
    )
    meter: MeterName | None = Field(None, description="running_hours, starts or another")
    every_meter: float | None = Field(None, ge=0.001, le=1e9, description="meter interval")
    lead_days: int | None = Field(None, ge=0, le=365, description="open this many days early")
    lead_meter: float | None = Field(None, ge=0, le=1e9, description="open this much early")
    priority: Literal["P0", "P1", "P2"] | None = None
    active: bool | None = None
    job_plan_id: int | None = Field(None, ge=1, le=2**53 - 1, description="its checklist/parts")


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
    job_plan_id: int | None = None


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


class StepIn(In):
    text: Short
    kind: Literal["pass_fail", "reading"] = "pass_fail"


class PartQty(In):
    part_id: int = Field(ge=1, le=2**53 - 1)
    qty: int = Field(gt=0, le=1_000_000)


class JobPlanIn(In):
    name: Short
    fault_mode: Id | None = Field(None, description="predictive tickets of this fault get it")
    skills: list[Id] = Field(default_factory=list, max_length=50)
    est_minutes: int = Field(gt=0, le=100_000)
    steps: list[StepIn] = Field(default_factory=list, max_length=200)
    parts: list[PartQty] = Field(default_factory=list, max_length=100)


class JobPlanOut(BaseModel):
    id: int
    name: str
    fault_mode: str | None
    skills: list[str]
    est_minutes: int
    steps: list[dict[str, Any]]
    parts: list[dict[str, Any]]


class PartIn(In):
    sku: Id
    name: Short
    unit_cost: float = Field(0, ge=0, le=1e9)


class StockIn(In):
    on_hand: int | None = Field(None, ge=0, le=10**9)
    site: Id | None = None
    reorder_point: int | None = Field(None, ge=0, le=10**9)


class PartOut(BaseModel):
    id: int
    sku: str
    name: str
    unit_cost: float
    stock: list[dict[str, Any]]


class AttachIn(In):
    job_plan_id: int = Field(ge=1, le=2**53 - 1)


class StepResultIn(In):
    result: Literal["pass", "fail"]
    reading: float | None = Field(None, ge=-1e12, le=1e12)
    note: Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL), Storable] | None = None
    follow_up: bool = Field(False, description="a failed step opens a follow-up ticket")


class ReservationOut(BaseModel):
    id: int
    ticket_id: int
    part_id: int
    store: str | None
    qty: int
    state: str


class WorkOut(BaseModel):
    ticket_id: int
    job_plan: JobPlanOut | None
    steps: list[dict[str, Any]]
    parts: list[dict[str, Any]]


class TimeIn(In):
    started_at: AwareDatetime
    ended_at: AwareDatetime
    engineer_id: int | None = Field(None, ge=1, le=2**53 - 1, description="default: yours")
    rate_per_h: float | None = Field(None, ge=0, le=100_000, description="default: settings")
    note: Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL), Storable] | None = None


class TimeOut(BaseModel):
    id: int
    ticket_id: int
    engineer_id: int
    started_at: datetime
    ended_at: datetime
    hours: float
    rate_per_h: float
    note: str | None


class DowntimeIn(In):
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    planned: bool = False
    ticket_id: int | None = Field(None, ge=1, le=2**53 - 1)
    note: Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL), Storable] | None = None


class DowntimeEnd(In):
    ended_at: AwareDatetime


class DowntimeOut(BaseModel):
    id: int
    asset: str
    started_at: datetime
    ended_at: datetime | None
    planned: bool
    ticket_id: int | None
    source: str
    note: str | None


class MaintenanceKpi(BaseModel):
    group: str
    assets: int
    failures: int
    downtime_h: float
    mtbf_h: float | None
    mttr_h: float | None
    pm_due: int
    pm_compliance: float | None
    tickets: int
    planned_share: float | None
    labour_h: float
    labour_cost: float
    parts_cost: float
    cost: float


HealthState = Literal["warmup", "relearn", "stopped", "running"]


class HealthPoint(BaseModel):
    ts: datetime
    health: float | None = Field(description="1 as healthy as the reference .. 0")
    slope_per_day: float | None = Field(description="change of the index per day")
    time_to_threshold_h: float | None = Field(
        description="hours until the index's trend reaches the alarm bar (0: there now)"
    )
    alarm: bool
    state: HealthState


class HealthNow(HealthPoint):
    site: str | None
    ref_to: datetime | None = Field(description="end of the healthy reference's window")


class HealthBucket(HealthPoint):
    health_min: float | None = Field(description="the lowest index in the bucket")


class AssetHealth(BaseModel):
    asset: str
    hours: float
    latest: HealthNow | None = Field(description="absent until the detectors recorded one")
    history: list[HealthBucket]
