"""Ingest a device's batch: each event stored once (by its id), checked against the device's
own station and bins, counted into the rollups, and queued for review when it needs a look.

All-or-nothing per event: an event is either stored whole (with its counters and queue item)
or rejected with a reason, and one bad event never costs the others.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.db.models import Bin, Card, Device, Event, Household, Place, QueueItem
from api.db.partitions import retired_through
from api.rollups import HouseholdKey, RollupKey, add_household_days, add_rollups
from api.settings import Settings
from api.stats.counters import Dropoff, household_counts, rollup_counts, rollup_weights
from vision.events import DropoffEvent, EventBatch, EventResult, EventStatus, EvidenceReason

log = logging.getLogger(__name__)
MAX_CLOCK_SKEW = timedelta(hours=24)


def sampled(event_id: UUID, share: float) -> bool:
    """A reproducible draw: the same event is in or out of a sample on every server."""
    draw = int.from_bytes(hashlib.sha256(event_id.bytes).digest()[:8], "big") / 2**64
    return draw < share


class _Station:
    def __init__(self, session: Session, device: Device):
        station = session.get(Place, device.station_id)
        assert station is not None
        self.station: Place = station
        self.compound_id = self.station.parent_id or self.station.id
        self.bins = {
            b.code: b
            for b in session.scalars(select(Bin).where(Bin.station_id == device.station_id))
        }

    def problem(self, event: DropoffEvent, device: Device, now: datetime) -> str | None:
        if event.station_id != self.station.code:
            return f"station {event.station_id!r} is not this device's station"
        bin_ = self.bins.get(event.bin_id)
        if bin_ is None:
            return f"bin {event.bin_id!r} is not a bin of station {event.station_id!r}"
        if bin_.category != event.bin_category:
            return f"bin {event.bin_id!r} is a {bin_.category!r} bin, not {event.bin_category!r}"
        if event.profile != self.station.profile:
            return f"station profile is {self.station.profile!r}, not {event.profile!r}"
        if event.captured_at > now + MAX_CLOCK_SKEW:
            return f"captured_at {event.captured_at.isoformat()} is in the future"
        return None


EVENTS = cast(Table, Event.__table__)


@functools.cache
def _insert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id, id: one compiled
    statement per dialect, run as an executemany (SQLAlchemy batches it into multi-row
    inserts)."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(EVENTS)
    return stmt.on_conflict_do_nothing(index_elements=["event_id"]).returning(
        EVENTS.c.event_id, EVENTS.c.id
    )


def ingest(
    session: Session, device: Device, batch: EventBatch, settings: Settings
) -> list[EventResult]:
    """Store a batch; the caller commits. Results are in the batch's order."""
    now = datetime.now(UTC)
    station = _Station(session, device)
    ids = [e.event_id for e in batch.events]
    known = set(session.scalars(select(Event.event_id).where(Event.event_id.in_(ids))))
    pseudonyms = {e.household for e in batch.events if e.household}
    cards = (
        session.execute(
            select(Card.pseudonym, Household.id)
            .join(Household, Household.id == Card.household_id)
            .where(Card.pseudonym.in_(pseudonyms))
        ).all()
        if pseudonyms
        else []
    )
    households = {pseudonym: household for pseudonym, household in cards}
    # retention keeps at least 3 months: a batch of the last month's drop-offs has none retired
    oldest = min((e.captured_at for e in batch.events), default=now)
    retired = retired_through(session) if oldest < now - timedelta(days=31) else None
    results: dict[UUID, EventResult] = {}
    rows: list[dict[str, Any]] = []
    for event in batch.events:
        if event.event_id in known:
            results[event.event_id] = EventResult(
                event_id=event.event_id, status=EventStatus.DUPLICATE
            )
            continue
        problem = station.problem(event, device, now) or _retired(event, retired, settings)
        if problem:
            log.warning("rejected event %s from %s: %s", event.event_id, device.code, problem)
            results[event.event_id] = EventResult(
                event_id=event.event_id, status=EventStatus.REJECTED, error=problem
            )
            continue
        rows.append(_row(event, device, station, households, settings, now))
    stored = _store(session, rows, station)
    for row in rows:
        status = EventStatus.STORED if row["event_id"] in stored else EventStatus.DUPLICATE
        results[row["event_id"]] = EventResult(event_id=row["event_id"], status=status)
    device.last_seen = now
    return [results[i] for i in ids]


def _retired(event: DropoffEvent, retired: date | None, settings: Settings) -> str | None:
    """A drop-off in a month whose events were exported and dropped cannot be counted again."""
    day = event.captured_at.astimezone(settings.zone).date()
    if retired is not None and day < retired:
        return f"captured on {day}: events before {retired} are retired (exported and dropped)"
    return None


def _row(
    event: DropoffEvent,
    device: Device,
    station: _Station,
    households: dict[str, int],
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    local = event.captured_at.astimezone(settings.zone)
    bin_ = station.bins[event.bin_id]
    # the device drew the audit sample at the share it records; the service draws the flag sample
    audit = (
        event.verdict == "correct"
        and event.evidence is not None
        and event.evidence.reason is EvidenceReason.AUDIT
    )
    flag_sample = event.verdict == "contaminated" and sampled(
        event.event_id, settings.flag_sample_share
    )
    share = event.audit_share if audit else settings.flag_sample_share if flag_sample else None
    return {
        "event_id": event.event_id,
        "appeal_key": event.event_id.hex[:12],
        "device_id": device.id,
        "bin_id": bin_.id,
        "station_id": device.station_id,
        "compound_id": station.compound_id,
        "bin_category": event.bin_category,
        "category": bin_.category,
        "household_id": households.get(event.household or ""),
        "pseudonym": event.household,
        "captured_at": event.captured_at.astimezone(UTC),
        "day": local.date(),
        "hour": local.hour,
        "received_at": now,
        "model_version": event.model_version,
        "verdict": event.verdict.value,
        "final_verdict": event.verdict.value,
        "offending": [c.value for c in event.offending],
        "score": event.score,
        "weight_kg": event.weight_kg,
        "items": [i.model_dump(mode="json") for i in event.items],
        "evidence": event.evidence.model_dump(mode="json") if event.evidence else None,
        "evidence_stored": False,
        "audit": audit,
        "flag_sample": flag_sample,
        "sample_share": share,
        "reviewed": False,
    }


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> dict[UUID, int]:
    """The rows not stored before, inserted; returns event id → row id of those inserted.
    On PostgreSQL `event_id` is unique with the event's day, the partition key (ingest derives it
    from the event's own capture time, so a resent event meets its first copy); `ingest` has
    already looked each id up in every partition."""
    if session.get_bind().dialect.name == "postgresql":
        columns = ", ".join(rows[0])
        # one JSON parameter for the whole batch: PostgreSQL parses it, psycopg only sends it
        statement = text(
            f"INSERT INTO events ({columns}) SELECT {columns} "
            "FROM json_populate_recordset(NULL::events, CAST(:rows AS json)) "
            "ON CONFLICT (event_id, day) DO NOTHING RETURNING event_id, id"
        )
        result = session.execute(statement, {"rows": json.dumps(rows, default=str)})
    else:
        result = session.execute(_insert(session.get_bind().dialect.name), rows)
    return {UUID(str(event_id)): int(row_id) for event_id, row_id in result.all()}


def _store(session: Session, rows: list[dict[str, Any]], station: _Station) -> set[UUID]:
    """Insert the rows; count the stored ones into the rollups of the station's compound and
    into the household days (which count for the household's own compound)."""
    if not rows:
        return set()
    inserted = _insert_rows(session, rows)
    rollups: dict[RollupKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    days: dict[HouseholdKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    last_seen: dict[HouseholdKey, datetime] = {}
    queue = []
    for row in rows:
        if row["event_id"] not in inserted:
            continue
        dropoff = Dropoff(
            row["verdict"], row["verdict"], row["household_id"] is not None, row["weight_kg"]
        )
        key = (row["day"], row["hour"], row["compound_id"], row["category"])
        for name, value in [*rollup_counts(dropoff).items(), *rollup_weights(dropoff).items()]:
            rollups[key][name] += value
        if row["household_id"] is not None:
            hkey = (row["day"], row["household_id"])
            for name, value in household_counts(row["verdict"]).items():
                days[hkey][name] += value
            last_seen[hkey] = max(last_seen.get(hkey, row["captured_at"]), row["captured_at"])
        reason = (
            "audit"
            if row["audit"]
            else {"contaminated": "flagged", "uncertain": "uncertain"}.get(row["verdict"])
        )
        if reason:
            queue.append(
                QueueItem(
                    reason=reason,
                    event_id=inserted[row["event_id"]],
                    event_day=row["day"],
                    place_path=station.station.path,
                    created_at=row["captured_at"],
                    status="open",
                )
            )
    add_rollups(session, rollups)
    add_household_days(session, days, last_seen=last_seen)
    session.add_all(queue)
    log.info("stored %d events (compound %d)", len(inserted), station.compound_id)
    return set(inserted)
