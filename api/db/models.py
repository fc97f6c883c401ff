"""The service's tables (SQLAlchemy 2, typed). Alembic migrations in api/db/migrations build them.

The place tree is one table (`places`, kind district → street → community → compound → station)
with a materialised path, so "everything under this node" is one prefix match. Events carry their
compound and bin category so statistics never join the tree; `rollups` and `household_days`
keep hourly and daily counters that ingest and reviews update in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class PlaceKind(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    COMPOUND = "compound"
    STATION = "station"


PARENT_KIND = {
    PlaceKind.DISTRICT: None,
    PlaceKind.STREET: PlaceKind.DISTRICT,
    PlaceKind.COMMUNITY: PlaceKind.STREET,
    PlaceKind.COMPOUND: PlaceKind.COMMUNITY,
    PlaceKind.STATION: PlaceKind.COMPOUND,
}


class Role(StrEnum):
    ADMIN = "admin"
    OFFICE = "office"
    SUPERVISOR = "supervisor"
    ENGINEER = "engineer"


class Place(Base):
    __tablename__ = "places"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    path: Mapped[str] = mapped_column(String(400), index=True)  # "/1/5/9/" ends with own id
    profile: Mapped[str] = mapped_column(String(64), default="national")  # stations
    lat: Mapped[float | None] = mapped_column(Float)  # WGS84, for the map (stations, compounds)
    lon: Mapped[float | None] = mapped_column(Float)


class Bin(Base):
    __tablename__ = "bins"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("places.id"), index=True)
    category: Mapped[str] = mapped_column(String(64))  # a category or a group of the profile


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("places.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_seen: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # after a rotation the old token still works until previous_valid_until
    previous_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    previous_valid_until: Mapped[datetime | None]


class Household(Base):
    __tablename__ = "households"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("places.id"), index=True)
    registered: Mapped[bool] = mapped_column(Boolean, default=True)


class Card(Base):
    """A household's card, QR code or app id, known only by its keyed-hash pseudonym."""

    __tablename__ = "cards"
    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # the pages' language ("en", "zh-CN"); None: the browser's
    language: Mapped[str | None] = mapped_column(String(8), default=None)


class UserScope(Base):
    """The places a user's jurisdiction covers (everything under each)."""

    __tablename__ = "user_scopes"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id"), primary_key=True)


class SessionToken(Base):
    __tablename__ = "session_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RateHit(Base):
    """One request to a rate-limited public route (api/ratelimit.py)."""

    __tablename__ = "rate_hits"
    __table_args__ = (Index("ix_rate_hits_bucket_at", "bucket", "at"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    bucket: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    until: Mapped[datetime] = mapped_column(index=True)  # at + the bucket's window


# what the statistics' strata group by (api/stats/queries.strata), kept in the compound-day index
STRATA_COLUMNS = ("category", "model_version", "verdict", "final_verdict", "reviewed", "audit",
                  "flag_sample", "sample_share", "id")  # fmt: skip


class Event(Base):
    """One drop-off. On PostgreSQL the table is partitioned by month of `day` (migration 0013):
    the primary key is (id, day), `event_id` is unique with its day (ingest derives the day from
    the event, and looks an id up in every partition first), and queue items and reviews refer
    to (id, day); SQLite keeps one table with the keys declared here."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    appeal_key: Mapped[str] = mapped_column(String(12), index=True)  # event_id's first 12 hex
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    bin_id: Mapped[int] = mapped_column(ForeignKey("bins.id"))
    station_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    compound_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    bin_category: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))  # the bin's national category, for stats
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    pseudonym: Mapped[str | None] = mapped_column(String(64))
    captured_at: Mapped[datetime]
    day: Mapped[date] = mapped_column(Date)  # local day of capture
    hour: Mapped[int] = mapped_column(Integer)  # local hour of capture
    received_at: Mapped[datetime]
    model_version: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))  # the model's
    final_verdict: Mapped[str] = mapped_column(String(16))  # the latest review's, else the model's
    offending: Mapped[list[str]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    evidence_stored: Mapped[bool] = mapped_column(Boolean, default=False)
    audit: Mapped[bool] = mapped_column(Boolean, default=False)  # in the audit sample
    # in the random sample of flagged drop-offs that measures the model's false flags
    flag_sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # the share in force when the event was drawn into its sample (audit or flag); None: unknown
    sample_share: Mapped[float | None] = mapped_column(Float)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        # with what the statistics' strata group by: a compound-month's read from the index
        # alone (migration 0014)
        Index("ix_events_compound_day", "compound_id", "day", *STRATA_COLUMNS),
        Index("ix_events_household_day", "household_id", "day"),
        Index("ix_events_station_captured", "station_id", "captured_at"),  # drift gauges
    )


class RetiredMonth(Base):
    """A month whose events were exported (`export_key` in the object store) and dropped
    (api/event_retention.py); its rollups, household days and reviews stay."""

    __tablename__ = "retired_months"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    events: Mapped[int] = mapped_column(Integer)
    export_key: Mapped[str] = mapped_column(String(200))
    retired_at: Mapped[datetime]


class RetiredStratum(Base):
    """What the audit-corrected statistics read from the events of a retired month, per day and
    compound: the counts `api.stats.queries.strata` groups, frozen when the month was dropped,
    and the standing reviews among them (the monthly report counts those)."""

    __tablename__ = "retired_strata"
    __table_args__ = (Index("ix_retired_strata_compound_day", "compound_id", "day"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    compound_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    category: Mapped[str] = mapped_column(String(16))
    model_version: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    final_verdict: Mapped[str] = mapped_column(String(16))
    decided: Mapped[bool] = mapped_column(Boolean)
    audit: Mapped[bool] = mapped_column(Boolean)
    flag_sample: Mapped[bool] = mapped_column(Boolean)
    n: Mapped[int] = mapped_column(Integer)
    w: Mapped[float] = mapped_column(Float)
    w2: Mapped[float] = mapped_column(Float)
    reviews: Mapped[int] = mapped_column(Integer)


class Rollup(Base):
    """Counters per local hour, compound and bin category; kept in step with `events`."""

    __tablename__ = "rollups"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("places.id"), primary_key=True)
    category: Mapped[str] = mapped_column(String(16), primary_key=True)
    dropoffs: Mapped[int] = mapped_column(Integer, default=0)
    identified: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    contaminated: Mapped[int] = mapped_column(Integer, default=0)
    uncertain: Mapped[int] = mapped_column(Integer, default=0)
    empty: Mapped[int] = mapped_column(Integer, default=0)
    # model verdicts and what the reviews made of them, for audit-corrected rates
    model_correct: Mapped[int] = mapped_column(Integer, default=0)
    model_contaminated: Mapped[int] = mapped_column(Integer, default=0)
    weight_kg: Mapped[float] = mapped_column(Float, default=0.0)
    correct_weight_kg: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (Index("ix_rollups_compound_day", "compound_id", "day"),)


class HouseholdDay(Base):
    """A household's drop-offs of one day, wherever it dropped off; `compound_id` is the
    household's own compound (participation and household accounts follow the household)."""

    __tablename__ = "household_days"
    __table_args__ = (Index("ix_household_days_compound_day", "compound_id", "day"),)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), primary_key=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    dropoffs: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    contaminated: Mapped[int] = mapped_column(Integer, default=0)
    uncertain: Mapped[int] = mapped_column(Integer, default=0)
    # contaminated by a standing review: a deduction that stands (the rest of `contaminated`
    # is the model's word alone, pending until confirmed or, by the street's choice, until its
    # appeal window passes)
    confirmed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_seen: Mapped[datetime | None]


class QueueItem(Base):
    """Something for a supervisor to look at: a flagged, uncertain, audit-sampled or appealed
    event, or a public error report."""

    __tablename__ = "queue_items"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))  # flagged|uncertain|audit|appeal|report
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    event_day: Mapped[date | None] = mapped_column(Date)  # the event's partition key
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    place_path: Mapped[str] = mapped_column(String(400), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|decided|expired
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_until: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)  # an appeal's or report's text


class Review(Base):
    """Every decision is kept; the newest not superseded one counts."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    event_day: Mapped[date | None] = mapped_column(Date)  # the event's partition key
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))  # confirm|overturn|unclear
    true_categories: Mapped[list[str]] = mapped_column(JSON)
    verdict: Mapped[str] = mapped_column(String(16))  # the event's verdict this decision gives
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # undone
    item_labels: Mapped[list[str | None] | None] = mapped_column(JSON)  # per item, when named


class Report(Base):
    """A public error report (纠错): a photo and a place from a resident or inspector."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    text: Mapped[str] = mapped_column(Text)
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    # 32 hex digits the residents' page sends with every try of one report (or made here): a
    # retry stores nothing twice, and its first 12 are the reference shown to the resident
    key: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))  # candidate|canary|active|retired
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state_changed_at: Mapped[datetime | None]  # when it last became canary or active


class CanaryStation(Base):
    __tablename__ = "canary_stations"
    model_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("places.id"), primary_key=True)


class Inspection(Base):
    """A sorting office's visit to a place (compound or station): weekly guidance (指导) or a
    monthly undercover check (暗访), what was found, and when it was put right."""

    __tablename__ = "inspections"
    __table_args__ = (Index("ix_inspections_place_day", "place_id", "day"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    day: Mapped[date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # guidance|undercover
    findings: Mapped[str] = mapped_column(Text, default="")
    rectified_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class AssessmentScheme(Base):
    """A street's own assessment scheme (YAML, as uploaded); streets without one use the
    default that ships in the package (api/assessment/default.yaml)."""

    __tablename__ = "assessment_schemes"
    street_id: Mapped[int] = mapped_column(ForeignKey("places.id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime]
