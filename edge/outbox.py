"""The outbox: every event and evidence image goes here first, into SQLite (WAL, synchronous FULL:
a committed event survives a killed process and a power cut), and leaves only when the service
has acknowledged it.

The pipeline appends; the uploader reads and marks. When storage runs low the oldest evidence
images go first (counted); events are never dropped.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from vision.events import DropoffEvent

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | rejected
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events (state, seq);
CREATE TABLE IF NOT EXISTS evidence (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id),
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'    -- pending | sent | refused | dropped
);
CREATE INDEX IF NOT EXISTS evidence_pending ON evidence (state, created);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Pending:
    seq: int
    event: DropoffEvent


@dataclass(frozen=True)
class OutboxStats:
    pending_events: int
    sent_events: int
    rejected_events: int
    pending_evidence: int
    evidence_bytes: int
    dropped_evidence: int


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def wrapper(self: Outbox, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Outbox:
    def __init__(self, directory: Path, max_evidence_bytes: int, min_free_bytes: int = 0):
        self.directory = directory
        self.images = directory / "evidence"
        self.images.mkdir(parents=True, exist_ok=True)
        self.max_evidence_bytes = max_evidence_bytes
        self.min_free_bytes = min_free_bytes
        self._db = sqlite3.connect(
            directory / "outbox.db", timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()  # one connection, used by the pipeline and the uploader
        self._remove_orphans()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _remove_orphans(self) -> None:
        """Image files whose row never committed (the process died between the two)."""
        known = {row[0] for row in self._db.execute("SELECT path FROM evidence")}
        for path in self.images.glob("*.jpg"):
            if str(path) not in known:
                path.unlink(missing_ok=True)
        for path in self.images.glob(".*.tmp"):
            path.unlink(missing_ok=True)

    # the pipeline's side ------------------------------------------------------------------

    @_locked
    def add(self, event: DropoffEvent, evidence: bytes | None = None) -> None:
        """Store an event (and its evidence image) durably."""
        path = None
        if evidence is not None:
            self._make_room(len(evidence))
            path = self.images / f"{event.event_id}.jpg"
            tmp = self.images / f".{event.event_id}.tmp"
            with tmp.open("wb") as handle:
                handle.write(evidence)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO events (event_id, body, created) VALUES (?, ?, ?)",
                (str(event.event_id), event.model_dump_json(), time.time()),
            )
            if path is not None and evidence is not None:
                db.execute(
                    "INSERT INTO evidence (event_id, path, bytes, created) VALUES (?, ?, ?, ?)",
                    (str(event.event_id), str(path), len(evidence), time.time()),
                )

    def _make_room(self, incoming: int) -> None:
        while True:
            stored = self._db.execute(
                "SELECT COALESCE(SUM(bytes), 0) FROM evidence WHERE state = 'pending'"
            ).fetchone()[0]
            free = shutil.disk_usage(self.directory).free
            if (
                stored + incoming <= self.max_evidence_bytes
                and free - incoming >= self.min_free_bytes
            ):
                return
            if not self._drop_oldest():
                if free - incoming < self.min_free_bytes:
                    log.warning("disk nearly full and no evidence left to drop")
                return

    def _drop_oldest(self) -> bool:
        row = self._db.execute(
            "SELECT event_id, path FROM evidence WHERE state = 'pending' ORDER BY created LIMIT 1"
        ).fetchone()
        if row is None:
            return False
        with self._transaction() as db:
            db.execute("UPDATE evidence SET state = 'dropped' WHERE event_id = ?", (row[0],))
            db.execute(
                "INSERT INTO counters VALUES ('dropped_evidence', 1) ON CONFLICT(name) "
                "DO UPDATE SET value = value + 1"
            )
        Path(row[1]).unlink(missing_ok=True)
        log.warning("storage low: dropped the evidence image of event %s", row[0])
        return True

    # the uploader's side ------------------------------------------------------------------

    @_locked
    def pending(self, limit: int) -> list[Pending]:
        rows = self._db.execute(
            "SELECT seq, body FROM events WHERE state = 'pending' ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [Pending(seq, DropoffEvent.model_validate_json(body)) for seq, body in rows]

    @_locked
    def mark(self, results: dict[UUID, tuple[str, str | None]]) -> None:
        """Record the service's answers: `stored`/`duplicate` → sent, `rejected` → kept aside."""
        with self._transaction() as db:
            for event_id, (status, error) in results.items():
                state = "rejected" if status == "rejected" else "sent"
                db.execute(
                    "UPDATE events SET state = ?, error = ?, attempts = attempts + 1 "
                    "WHERE event_id = ?",
                    (state, error, str(event_id)),
                )
                if state == "rejected":
                    self._forget_evidence(db, str(event_id), "refused")

    @_locked
    def evidence_ready(self, limit: int) -> list[tuple[UUID, Path]]:
        """Evidence whose event the service has stored."""
        rows = self._db.execute(
            "SELECT v.event_id, v.path FROM evidence v JOIN events e USING (event_id) "
            "WHERE v.state = 'pending' AND e.state = 'sent' ORDER BY v.created LIMIT ?",
            (limit,),
        ).fetchall()
        return [(UUID(event_id), Path(path)) for event_id, path in rows]

    @_locked
    def evidence_done(self, event_id: UUID, accepted: bool) -> None:
        with self._transaction() as db:
            self._forget_evidence(db, str(event_id), "sent" if accepted else "refused")

    def _forget_evidence(self, db: sqlite3.Connection, event_id: str, state: str) -> None:
        row = db.execute(
            "SELECT path FROM evidence WHERE event_id = ? AND state = 'pending'", (event_id,)
        ).fetchone()
        if row is None:
            return
        db.execute("UPDATE evidence SET state = ? WHERE event_id = ?", (state, event_id))
        Path(row[0]).unlink(missing_ok=True)

    @_locked
    def stats(self) -> OutboxStats:
        counts = dict(self._db.execute("SELECT state, COUNT(*) FROM events GROUP BY state"))
        pending_evidence, stored = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM evidence WHERE state = 'pending'"
        ).fetchone()
        dropped = self._db.execute(
            "SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'dropped_evidence'"
        ).fetchone()[0]
        return OutboxStats(
            counts.get("pending", 0),
            counts.get("sent", 0),
            counts.get("rejected", 0),
            pending_evidence,
            stored,
            dropped,
        )
