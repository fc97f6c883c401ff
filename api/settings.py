"""The service's one configuration, read once in `main` (or given to `create_app` by a test).

Values come from `BINWATCH_`-prefixed environment variables or a `.env` file in the working
directory. With nothing set the service runs in development mode on SQLite under `./binwatch-data`;
outside development it refuses the default secret.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.stats.correction import Rules

DEV_SECRET = "binwatch-development-secret-change-me"


def _url(value: str | None, schemes: tuple[str, ...], said: str) -> str | None:
    """`value` stripped, when it is a URL of one of `schemes` with a host; else ValueError."""
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"not {said}: {value!r}")
    return value.strip()


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Points(BaseSettings):
    """Household points per drop-off, by its (reviewed or model) verdict. A deduction (a
    contaminated drop-off) stands once a supervisor confirms it or, when the street chooses an
    appeal window, once that many days pass without an appeal; until then it is pending and
    costs nothing. A deduction under an open appeal is pending again."""

    model_config = SettingsConfigDict(extra="forbid")

    correct: int = Field(2, ge=-100, le=100, description="points for a correctly sorted drop-off")
    contaminated: int = Field(-1, ge=-100, le=100, description="points for a contaminated one")
    uncertain: int = Field(0, ge=-100, le=100, description="points for an unreviewed uncertain one")
    appeal_window_days: int | None = Field(
        None,
        ge=1,
        le=365,
        description="days after which an unappealed model flag's deduction stands without a "
        "supervisor (None: only a supervisor's confirmation makes it stand)",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BINWATCH_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    mode: Mode = Field(Mode.DEVELOPMENT, description="development or production")
    data_dir: Path = Field(Path("binwatch-data"), description="database, evidence and models")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite (WAL) in the data directory"
    )
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET),
        description="keys the stored session tokens (changing it ends every session) and the "
        "stored client addresses of failed sign-ins",
    )
    timezone: str = Field("Asia/Shanghai", description="the place whose days the statistics use")
    storage_url: str | None = Field(
        None,
        description="s3://bucket/prefix: evidence, report photos, snapshots and models in an "
        "S3-compatible bucket (endpoint and credentials from the AWS_* variables); default: "
        "the data directory",
    )
    storage_create: bool = Field(
        False, description="create the storage bucket when it is missing (else refuse to start)"
    )
    public_url: str | None = Field(
        None,
        description="the address residents' phones reach this service at (https://…): the "
        "QR posters at the bins link to its residents' page",
    )
    db_connections: Annotated[int, Field(ge=6, le=1000)] = Field(
        20,
        description="database connections per service process (workers × this must stay "
        "under PostgreSQL's max_connections, 100 by default); API requests beyond it less 4 "
        "wait their turn in the event loop",
    )
    session_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 12
    retention_days: Annotated[int, Field(ge=30, le=3650)] = Field(
        400, description="evidence images older than this are deleted"
    )
    event_retention_months: Annotated[int | None, Field(ge=3, le=1200)] = Field(
        None,
        description="events kept for this month and the N-1 before it; older months are "
        "exported to the object store (exports/events/YYYY-MM.csv.gz) and dropped by "
        "`binwatch db retire-events`, their counters and reviews kept (default: keep every event)",
    )
    audit_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.05,
        description="audit share for a station without history; after that it adapts per "
        "station (api/sampling.py). Devices keep that share of the drop-offs their model judges "
        "correct; every one is queued, and the share is recorded on the event",
    )
    audit_share_floor: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.01, description="the least audit share a station ever samples at"
    )
    audit_share_max: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.5, description="the most audit share a station is ever asked for"
    )
    audit_target_factor: Annotated[float, Field(ge=1.0, le=10.0)] = Field(
        1.5,
        description="audits sampled per compound-month, as a multiple of min_audits (room for "
        "the backlog and `unclear` decisions)",
    )
    review_budget: Annotated[int, Field(ge=1, le=100_000)] = Field(
        300, description="reviews one supervisor can make a day, shared over their compounds"
    )
    flag_sample_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.25,
        description="share of flagged drop-offs drawn at ingest into the random sample that "
        "measures the model's false flags",
    )
    min_audits: Annotated[int, Field(ge=1, le=100_000)] = Field(
        30,
        description="decided audits a place and period need before an audit-corrected "
        "accuracy is shown (below: 'not enough audits (n)')",
    )
    min_flag_samples: Annotated[int, Field(ge=1, le=100_000)] = Field(
        10, description="decided flag samples needed while unreviewed flags remain"
    )
    min_cell_audits: Annotated[int, Field(ge=1, le=100_000)] = Field(
        30,
        description="decided samples a model version and bin category need for an error "
        "rate of their own (fewer: pooled, see api/stats/correction.py)",
    )
    claim_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        15, description="a claimed review item returns to the queue after this long"
    )
    undo_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = Field(
        10, description="a reviewer can undo their own decision for this long"
    )
    max_evidence_bytes: Annotated[int, Field(ge=10_000, le=50_000_000)] = 5 * 1024 * 1024
    max_model_bytes: Annotated[int, Field(ge=10_000, le=500_000_000)] = 64 * 1024 * 1024
    max_batch_bytes: Annotated[int, Field(ge=100_000, le=200_000_000)] = Field(
        16 * 1024 * 1024, description="largest body of an event batch (500 events: about 5 MB)"
    )
    max_csv_bytes: Annotated[int, Field(ge=100_000, le=200_000_000)] = Field(
        20_000_000, description="largest places CSV"
    )
    max_json_bytes: Annotated[int, Field(ge=10_000, le=100_000_000)] = Field(
        1024 * 1024, description="largest body of any other request (sign-in, appeals, forms)"
    )
    login_user_failures: Annotated[int, Field(ge=1, le=10_000)] = Field(
        10, description="failed sign-ins for one username within the window before 429"
    )
    login_client_failures: Annotated[int, Field(ge=1, le=100_000)] = Field(
        30, description="failed sign-ins from one client address within the window before 429"
    )
    login_window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of load balancers whose X-Forwarded-For is "
        'believed (JSON, e.g. ["10.0.0.0/8"]); empty: the peer address is the client',
    )
    device_token_grace_hours: Annotated[int, Field(ge=0, le=24 * 90)] = Field(
        24, description="how long a device's previous token works after a rotation"
    )
    public_reports_per_client: Annotated[int, Field(ge=1, le=100_000)] = Field(
        10, description="public reports one client address may send an hour"
    )
    public_reports_per_place: Annotated[int, Field(ge=1, le=100_000)] = Field(
        60, description="public reports one station or compound may receive an hour"
    )
    public_lookups_per_client: Annotated[int, Field(ge=1, le=100_000)] = Field(
        30, description="appeal codes that find nothing, per client address an hour"
    )
    drift_refresh_seconds: Annotated[float, Field(ge=1, le=86_400)] = Field(
        300, description="how often the drift gauges in /metrics are recomputed"
    )
    points: Points = Points()

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or network: {entry!r}") from exc
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        return _url(value, ("s3",), "an s3://bucket/prefix URL")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        checked = _url(value, ("http", "https"), "an http(s) URL with a host")
        return None if checked is None else checked.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.mode is not Mode.DEVELOPMENT and (secret == DEV_SECRET or len(secret) < 32):
            raise ValueError(
                "BINWATCH_SECRET_KEY must be set to a secret of at least 32 characters "
                "outside development mode"
            )
        return self

    @property
    def correction_rules(self) -> Rules:
        return Rules(self.min_audits, self.min_flag_samples, self.min_cell_audits)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'binwatch.db').resolve()}"
