"""Request and response bodies (`XCreate` in, `XPublic` out) for the service's routes."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.db.models import PlaceKind, Role

Code = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


Language = Literal["en", "zh-CN"]


class SessionPublic(BaseModel):
    token: str
    expires_at: datetime
    role: Role
    username: str
    language: Language | None = Field(None, description="the pages' language; null: the browser's")


class UserCreate(_In):
    username: str = Field(pattern=r"^[A-Za-z0-9._-]{2,64}$")
    password: str = Field(min_length=10, max_length=200)
    role: Role
    scope: list[str] = Field(default_factory=list, description="place codes (office, supervisor)")


class UserPublic(BaseModel):
    username: str
    role: Role
    scope: list[str]
    active: bool
    language: Language | None = None


class UserPreferences(_In):
    language: Language | None = Field(description="the pages' language; null: the browser's")


class PlaceCreate(_In):
    kind: PlaceKind
    code: str = Code
    name: str = Field(max_length=200)
    parent: str | None = None
    profile: str = "national"


class PlacePublic(BaseModel):
    kind: PlaceKind
    code: str
    name: str
    parent: str | None
    profile: str
    lat: float | None = None
    lon: float | None = None


class BinCreate(_In):
    code: str = Code
    station: str
    category: str = Field(max_length=64)


class BinPublic(BaseModel):
    code: str
    station: str
    category: str


class RowErrorPublic(BaseModel):
    line: int
    message: str


class ImportPublic(BaseModel):
    rows: int
    created: dict[str, int]
    updated: int
    errors: list[RowErrorPublic]


class DeviceCreate(_In):
    code: str = Code
    station: str


class DevicePublic(BaseModel):
    code: str
    station: str
    created_at: datetime
    last_seen: datetime | None
    revoked: bool


class DeviceCreated(DevicePublic):
    token: str = Field(description="shown once; only its hash is stored")


class DeviceRotated(DeviceCreated):
    previous_valid_until: datetime


class EvidencePublic(BaseModel):
    event_id: str
    sha256: str
    bytes: int
    width: int
    height: int


class CorrectedPublic(BaseModel):
    """The accuracy rate corrected for the model's errors measured by reviews, with its 95 %
    interval (see api/stats/correction.py)."""

    accuracy: float | None
    low: float | None
    high: float | None
    miss_rate: float | None = Field(
        description="share of model-correct drop-offs found contaminated (weighted audit sample)"
    )
    false_flag_rate: float | None = Field(
        description="share of flagged drop-offs found correct (weighted flag sample)"
    )
    audited: int = Field(description="decided audits (random sample of model-correct drop-offs)")
    flags_reviewed: int = Field(description="decided members of the random flag sample")
    reason: str | None = Field(
        None, description="why `accuracy` is null, e.g. 'not enough audits (12)'"
    )
    audits_needed: int = Field(0, description="decided audits still needed to show a number")


class Rates(BaseModel):
    dropoffs: int
    identified: int
    scored: int = Field(description="correct + contaminated (uncertain left out until reviewed)")
    correct: int
    contaminated: int
    uncertain: int
    empty: int
    accuracy: float | None = Field(description="correct / scored")
    contamination: float | None = Field(description="contaminated / scored")


class Bucket(Rates):
    start: datetime


class CategoryRates(Rates):
    category: str
    purity_by_weight: float | None = None
    corrected: CorrectedPublic


class TotalRates(Rates):
    corrected: CorrectedPublic


class ServiceDay(BaseModel):
    timezone: str
    today: date = Field(description="today in the service's time zone")
    month: str = Field(description="this month there, YYYY-MM")


class SummaryPublic(BaseModel):
    place: str
    kind: PlaceKind
    start: date
    end: date
    registered_households: int
    participating_households: int
    participation: float | None
    totals: TotalRates
    by_category: list[CategoryRates]
    kitchen_purity: float | None = Field(description="correct share of scored kitchen drop-offs")
    buckets: list[Bucket]


class HouseholdPublic(BaseModel):
    household: str
    compound: str
    dropoffs: int
    scored: int
    correct: int
    contaminated: int
    accuracy: float | None
    points: int = Field(description="standing points: deductions count once they stand")
    deductions: int = Field(0, description="contaminated drop-offs whose deduction stands")
    pending_deductions: int = Field(
        0, description="contaminated drop-offs not confirmed yet (or under appeal): no points yet"
    )
    pending_points: int = Field(0, description="what the pending deductions would cost")
    last_seen: datetime | None


class RankingRow(BaseModel):
    rank: int = Field(description="by the assessment score (withheld scores last, by code)")
    place: str
    name: str
    accuracy: float | None = Field(description="raw accuracy, shown beside; not the ranking")
    participation: float | None
    dropoffs: int
    score: float | None = Field(None, description="the street's assessment score, 0–100")
    grade: str | None = None


class Period(_In):
    start: date
    end: date
    bucket: Literal["day", "hour"] = "day"


class QueueEvent(BaseModel):
    event_id: str
    station: str
    bin: str
    bin_category: str
    captured_at: datetime
    verdict: str
    final_verdict: str
    offending: list[str]
    items: list[dict[str, object]]
    evidence_url: str | None
    appeal_code: str
    household: str | None = Field(None, description="the household pseudonym, when identified")
    compound: str | None = None
    profile: str = Field("national", description="the station's taxonomy profile")


class QueueCount(BaseModel):
    open: int
    by_reason: dict[str, int]


class LabelPublic(BaseModel):
    code: str
    zh: str
    en: str
    category: str | None = Field(
        description="the label's category under the asked profile; null for `background` "
        "(no item: not a category)"
    )


class CategoryInfo(BaseModel):
    code: str
    zh: str
    en: str
    colour: str
    hex: str


class QueueItemPublic(BaseModel):
    id: int
    reason: Literal["flagged", "uncertain", "audit", "appeal", "report"]
    # expired: still open when its event's month was retired (api/event_retention.py)
    status: Literal["open", "decided", "expired"]
    created_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    note: str | None
    event: QueueEvent | None
    report_image_url: str | None = None
    place: str | None = None


class DecisionCreate(_In):
    decision: Literal["confirm", "overturn", "unclear"]
    true_categories: list[Literal["recyclable", "hazardous", "kitchen", "other"]] = Field(
        default_factory=list, max_length=4
    )
    note: str | None = Field(None, max_length=2000)
    labels: list[str | None] = Field(
        default_factory=list,
        max_length=64,
        description="optional, one per item of the event in order: the item's fine label when the "
        "reviewer names it (null when not; `background` when there is no item, such as a hand or "
        "a shadow); used for retraining",
    )


class ReviewPublic(BaseModel):
    id: int
    item_id: int
    decision: str
    true_categories: list[str]
    verdict: str
    note: str | None
    reviewer: str
    created_at: datetime
    superseded_by: int | None
    withdrawn: bool = False
    labels: list[str | None] | None = None


class AppealCreate(_In):
    code: str = Field(min_length=12, max_length=20, description="the code on the feedback slip")
    text: str = Field("", max_length=2000)


class AppealStatus(BaseModel):
    """What a resident sees for the code on their feedback slip (nothing about the household)."""

    code: str
    day: date = Field(description="the drop-off's day (the service's time zone)")
    station: str
    bin_category: str
    verdict: str = Field(description="the standing verdict: a review's, else the model's")
    reviewed: bool
    deduction: Literal["none", "pending", "standing"] = Field(
        description="pending: the model's word alone, or under appeal; it costs no points yet"
    )
    points: int = Field(description="what this drop-off costs or earns now")
    pending_points: int = Field(description="what a pending deduction would cost once it stands")
    stands_on: date | None = Field(
        None, description="the day a pending deduction stands if not appealed (street's window)"
    )
    appeal: Literal["none", "open", "decided"]
    can_appeal: bool


class ReportPublic(BaseModel):
    id: int
    place: str
    queued: bool
    code: str | None = Field(None, description="the resident's reference (3f2a-91c0-7b4e)")


class PublicPlace(BaseModel):
    """What the residents' page shows of a station or compound, and what it tells about keeping
    a report."""

    code: str
    name: str
    kind: str
    retention_days: int


class ModelPublic(BaseModel):
    version: str
    sha256: str
    bytes: int
    state: Literal["candidate", "canary", "active", "retired"]
    created_at: datetime
    state_changed_at: datetime | None = None
    stations: list[str]
    labels: list[str]
    metrics: dict[str, float]


class StationDrift(BaseModel):
    station: str
    events: int
    flag_rate: float | None
    mean_score: float | None
    baseline_events: int
    baseline_flag_rate: float | None
    baseline_mean_score: float | None
    score_drift: float | None


class StationDriftFlag(BaseModel):
    """A station's drift (api/drift.py): the last days' items against the weeks before."""

    station: str
    recent_items: int
    reference_items: int
    confidence_psi: float | None
    category_psi: float | None
    recent_mean_confidence: float | None
    reference_mean_confidence: float | None
    drifting: bool
    reason: str


class RolloutSide(BaseModel):
    version: str
    events: int
    scored: int
    flag_rate: float | None
    reviewed: int
    overturn_rate: float | None
    items: int
    mean_confidence: float | None
    confidence_p10: float | None
    confidence_median: float | None
    confidence_histogram: list[int]


class RolloutPublic(BaseModel):
    start: datetime
    end: datetime
    model: RolloutSide
    active: RolloutSide
    difference: dict[str, float | None]
    histogram_edges: list[float]


class ModelMove(_In):
    state: Literal["candidate", "canary", "active", "retired"]
    stations: list[str] = Field(default_factory=list, max_length=10000)


class DeviceModelPublic(BaseModel):
    version: str
    sha256: str
    bytes: int
    url: str


class AuditPlanPublic(BaseModel):
    share: float = Field(description="keep this share of model-correct drop-offs for audit")
    month: str
    target: int = Field(description="audits the compound should sample this month")
    sampled: int = Field(description="audits sampled so far this month")
    correct_per_day: float
    review_room_per_day: float = Field(description="supervisor reviews a day left for audits")
    why: str


class DeviceConfigPublic(BaseModel):
    """What a device polls: the service decides its sampling and its model."""

    station: str
    profile: str = Field(description="the station's taxonomy profile")
    audit_share: float = Field(description="the share to sample audits at, recorded per event")
    audit: AuditPlanPublic
    model: DeviceModelPublic | None = Field(description="null while no model is registered")
    poll_seconds: int = Field(description="ask again after this long")
    snapshot_wanted: bool = Field(
        False, description="upload a frame to PUT /api/v1/device/snapshot (station set-up)"
    )


class IndicatorPublic(BaseModel):
    key: str
    value: float | None = Field(description="a share in [0, 1]; null when it lacks data")
    n: int | None = Field(description="what it rests on: households, audits, reports, inspections")
    weight: float
    colour: str | None = Field(description="the scheme's colour band for the value")
    lacks: str | None = Field(description="why there is no value, e.g. 'not enough audits (12)'")


class AssessmentRow(BaseModel):
    rank: int | None = Field(description="by the score; null while the score is withheld")
    place: str
    name: str
    scheme: str
    score: float | None = Field(description="0–100 under the street's scheme")
    grade: str | None
    score_last_month: float | None
    change: float | None = Field(description="score minus last month's (points)")
    indicators: list[IndicatorPublic]
    lacking: list[str] = Field(description="indicators without data this month")
    reason: str | None = Field(description="why the score is withheld")


class SchemePublic(BaseModel):
    street: str
    source: Literal["street", "default"]
    text: str = Field(description="the scheme as YAML")
    scheme: dict[str, Any]


class InspectionKind(StrEnum):
    GUIDANCE = "guidance"
    UNDERCOVER = "undercover"


class InspectionCreate(_In):
    place: str = Field(max_length=64, description="a compound or station code")
    day: date
    inspector: str = Field(min_length=1, max_length=200)
    kind: InspectionKind
    findings: str = Field("", max_length=5000)
    rectified_on: date | None = None


class InspectionUpdate(_In):
    findings: str | None = Field(None, max_length=5000)
    rectified_on: date | None = None


class InspectionPublic(BaseModel):
    id: int
    place: str
    day: date
    inspector: str
    kind: InspectionKind
    findings: str
    rectified_on: date | None
