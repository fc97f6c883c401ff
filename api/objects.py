"""Where the service keeps its files — evidence JPEGs, report photos, station snapshots, model
files — as objects under keys (`evidence/ab/<event id>.jpg`, `evidence/reports/<id>.jpg`,
`models/<sha256>.onnx`, `snapshots/<station>.jpg`). One interface, so a second backend (an
S3-compatible bucket, `api/objects_s3.py`) stands beside the local directory, whose layout is the
one the data directory always had (a key is a path under `BINWATCH_DATA_DIR`).

Writes are atomic (a reader sees the old object or the new one, never half); model files stream
in and out in chunks, never whole in memory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20


class StoreUnavailableError(RuntimeError):
    """The object store cannot be reached now (HTTP 503: try again later)."""


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int: ...

    def get(self, key: str) -> bytes | None: ...

    def stream(self, key: str) -> Iterator[bytes] | None: ...

    def size(self, key: str) -> int | None: ...

    def delete(self, key: str) -> None: ...

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]: ...


def checked_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not an object key: {key!r}")
    return key


class LocalStore:
    """Objects as files under a directory (the data directory)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def put(self, key: str, data: bytes) -> None:
        self.put_stream(key, [data])

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        written = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    written += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return written

    def get(self, key: str) -> bytes | None:
        target = self.path(key)
        return target.read_bytes() if target.is_file() else None

    def stream(self, key: str) -> Iterator[bytes] | None:
        target = self.path(key)
        if not target.is_file():
            return None
        handle = target.open("rb")

        def chunks() -> Iterator[bytes]:
            with handle:
                while block := handle.read(CHUNK):
                    yield block

        return chunks()

    def size(self, key: str) -> int | None:
        target = self.path(key)
        return target.stat().st_size if target.is_file() else None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Keys under a prefix ("evidence/", "snapshots/") with when each was written."""
        base = self.root / checked_key(prefix.rstrip("/"))
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".upload-"):
                when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                yield path.relative_to(self.root).as_posix(), when


def evidence_key(event_id: object) -> str:
    text = str(event_id)
    return f"evidence/{text.replace('-', '')[:2]}/{text}.jpg"


def report_key(report_id: int) -> str:
    return f"evidence/reports/{report_id}.jpg"


def model_key(sha256: str) -> str:
    return f"models/{sha256}.onnx"


def snapshot_key(station: str, suffix: str = "jpg") -> str:
    """A station's frame (`jpg`), what is known of it (`txt`), or the device being asked for one
    (`wanted`)."""
    return f"snapshots/{station}.{suffix}"
