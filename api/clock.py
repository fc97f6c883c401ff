"""Time as the service reads it: stored moments are UTC (SQLite hands them back naive), and the
statistics count days in the service's time zone (`Settings.zone`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def aware(moment: datetime) -> datetime:
    """A stored moment as an aware UTC datetime (SQLite returns them without a zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def today(zone: ZoneInfo) -> date:
    """Today in `zone`: the service's day, not UTC's or the browser's."""
    return datetime.now(UTC).astimezone(zone).date()
