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
FULL_BYTES = 16 * 2**20  # below this free, with no evidence to drop, capture pauses


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
CREATE TABLE IF NOT EXISTS positions (       -- how far a recording (file, folder) was read
    source TEXT PRIMARY KEY,
    frame INTEGER NOT NULL,
    at REAL NOT NULL
);
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
        known = {Path(row[0]).name for row in self._db.execute("SELECT path FROM evidence")}
        for path in self.images.glob("*.jpg"):
            if path.name not in known:
                path.unlink(missing_ok=True)
        for path in self.images.glob(".*.tmp"):
            path.unlink(missing_ok=True)

    # the pipeline's side ------------------------------------------------------------------

    @_locked
    def add(
        self,
        event: DropoffEvent,
        evidence: bytes | None = None,
        position: tuple[str, int] | None = None,
    ) -> None:
        """Store an event (and its evidence image) durably; `position` (source, frame): how far
        a recording was read, committed with the event, so a restart resumes after it."""
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
            fsync_directory(self.images)  # the rename itself survives a power cut
        with self._transaction() as db:
            db.execute(
                "INSERT INTO events (event_id, body, created) VALUES (?, ?, ?)",
                (str(event.event_id), event.model_dump_json(), time.time()),
            )
            if path is not None and evidence is not None:
                db.execute(
                    "INSERT INTO evidence (event_id, path, bytes, created) VALUES (?, ?, ?, ?)",
                    (str(event.event_id), path.name, len(evidence), time.time()),
                )
            if position is not None:
                self._save_position(db, *position)

    @_locked
    def save_position(self, source: str, frame: int) -> None:
        """How far a recording was read, between drop-offs (no event to commit it with)."""
        with self._transaction() as db:
            self._save_position(db, source, frame)

    def _save_position(self, db: sqlite3.Connection, source: str, frame: int) -> None:
        db.execute(
            "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT(source) "
            "DO UPDATE SET frame = excluded.frame, at = excluded.at",
            (source, frame, time.time()),
        )

    @_locked
    def position(self, source: str) -> int:
        """The last frame of `source` whose outcome is committed (0: none)."""
        row = self._db.execute("SELECT frame FROM positions WHERE source = ?", (source,)).fetchone()
        return int(row[0]) if row else 0

    def room(self) -> bool:
        """False when the disk is full (under FULL_BYTES free) and no evidence is left to drop:
        events could no longer be written, so capture must wait. (`min_free_bytes` only decides
        how much evidence is kept; events go on below it.)"""
        if shutil.disk_usage(self.directory).free >= FULL_BYTES:
            return True
        with self._lock:
            row = self._db.execute("SELECT 1 FROM evidence WHERE state = 'pending' LIMIT 1")
            return row.fetchone() is not None

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
        self._image(row[1]).unlink(missing_ok=True)
        log.warning("storage low: dropped the evidence image of event %s", row[0])
        return True

    # the uploader's side ------------------------------------------------------------------

    @_locked
    def pending(self, limit: int) -> list[Pending]:
        """The oldest unsent events. A row that no longer reads as an event (written by another
        version, damaged) is set aside with the reason instead of blocking the queue."""
        rows = self._db.execute(
            "SELECT seq, body FROM events WHERE state = 'pending' ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        out = []
        for seq, body in rows:
            try:
                out.append(Pending(seq, DropoffEvent.model_validate_json(body)))
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                reason = f"unreadable in the outbox: {str(exc)[:300]}"
                log.error("outbox row %d set aside: %s", seq, reason)
                with self._transaction() as db:
                    db.execute(
                        "UPDATE events SET state = 'rejected', error = ? WHERE seq = ?",
                        (reason, seq),
                    )
        return out

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
        return [(UUID(event_id), self._image(path)) for event_id, path in rows]

    def _image(self, stored: str) -> Path:
        """Where an evidence row's image is: rows hold the file name (older ones a full path,
        of which only the name counts), so moving or respelling `storage.dir` loses nothing."""
        return self.images / Path(stored).name

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
        self._image(row[0]).unlink(missing_ok=True)

    @_locked
    def dead(self, limit: int = 1000) -> list[tuple[str, str, str | None]]:
        """Events set aside (refused by the service), oldest first: (event id, when, reason)."""
        rows = self._db.execute(
            "SELECT event_id, created, error FROM events WHERE state = 'rejected' "
            "ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            (event_id, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)), error)
            for event_id, created, error in rows
        ]

    @_locked
    def retry_dead(self) -> int:
        """Send the set-aside events again (after the service or the device was fixed)."""
        with self._transaction() as db:
            return db.execute(
                "UPDATE events SET state = 'pending', error = NULL WHERE state = 'rejected'"
            ).rowcount

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
