"""`binwatch storage migrate`: copy a local data directory's files — evidence, report photos,
station snapshots, model files — to the bucket of `BINWATCH_STORAGE_URL` (s3://bucket/prefix),
under the same keys. Objects already there with the same size are left; run it again after a
break and it goes on. The database is not touched (it names files by key, not by place)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vision.errors import BinwatchError

DESCRIPTION = "copy the data directory's files to the object store bucket (migrate)"
PREFIXES = ("evidence", "models", "snapshots")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["migrate"])
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="the local data directory (default: BINWATCH_DATA_DIR)",
    )


def run(args: argparse.Namespace) -> int:
    from api.objects import LocalStore
    from api.objects_s3 import S3Store
    from api.settings_cli import load_settings
    from api.storage import objects_for

    settings = load_settings()
    if settings.storage_url is None:
        raise BinwatchError("set BINWATCH_STORAGE_URL=s3://bucket/prefix: where to copy to")
    source = LocalStore(args.source or settings.data_dir)
    if not source.root.is_dir():
        raise BinwatchError(f"no data directory {source.root}")
    target = objects_for(settings)
    assert isinstance(target, S3Store)
    try:
        target.check(create=settings.storage_create)
    except ValueError as exc:
        raise BinwatchError(str(exc)) from None
    copied = kept = 0
    for prefix in PREFIXES:
        for key, _ in source.listing(prefix):
            size = source.size(key)
            if size is not None and target.size(key) == size:
                kept += 1
                continue
            chunks = source.stream(key)
            if chunks is None:  # gone meanwhile (retention)
                continue
            target.put_stream(key, chunks)
            copied += 1
    print(f"copied {copied} file(s) to {settings.storage_url}; {kept} were there already")
    return 0
