"""One Settings, refusing default secrets outside development; migrations that match the models;
`binwatch serve` working with nothing configured."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Column, create_engine
from sqlalchemy.sql.visitors import iterate

from api.db.migrate import head, upgrade
from api.db.models import Base, Event, Place
from api.db.partitions import NAME
from api.settings import DEV_SECRET, Settings
from api.stats.queries import event_strata


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINWATCH_MODE", "production")
    with pytest.raises(ValidationError, match="BINWATCH_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("BINWATCH_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings()
    monkeypatch.setenv("BINWATCH_SECRET_KEY", "x" * 40)
    assert Settings().secret_key.get_secret_value() == "x" * 40


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "BINWATCH_DATA_DIR=/srv/bw\nBINWATCH_AUDIT_SHARE=0.1\nBINWATCH_POINTS__CORRECT=3\n"
    )
    settings = Settings()
    assert settings.data_dir == Path("/srv/bw") and settings.audit_share == 0.1
    assert settings.points.correct == 3
    assert settings.url == "sqlite:////srv/bw/binwatch.db"
    assert settings.secret_key.get_secret_value() == DEV_SECRET
    monkeypatch.setenv("BINWATCH_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _not_a_partition}
        )
        assert context.get_current_revision() == head()
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    if engine.dialect.name == "postgresql":
        # the partitioned events table: keys carry the partition key (migration 0013)
        diff = [d for d in diff if _described(d) not in PARTITION_KEYS]
    assert [_described(d) for d in diff] == []


# what PostgreSQL's partitioned `events` has instead of the models' single-table keys
PARTITION_KEYS = {
    "remove_fk queue_items (event_id, event_day) -> events",
    "remove_fk reviews (event_id, event_day) -> events",
    "add_fk queue_items (event_id) -> events",
    "add_fk reviews (event_id) -> events",
    "remove_constraint events (event_id, day)",
    "add_constraint events (event_id)",
}


def _not_a_partition(name: str | None, kind: str, parent: dict[str, str | None]) -> bool:
    partition = name is not None and (bool(NAME.match(name)) or name == "events_default")
    return not (kind == "table" and partition)


def _described(diff: Any) -> str:
    if isinstance(diff, list):  # column changes come as lists
        return repr(diff)
    what, thing = diff[0], diff[1]
    if what in ("add_fk", "remove_fk"):
        columns = ", ".join(c.name for c in thing.columns)
        target = thing.referred_table.name  # reported once per partition too
        target = "events" if not _not_a_partition(target, "table", {}) else target
        return f"{what} {thing.parent.name} ({columns}) -> {target}"
    if what in ("add_constraint", "remove_constraint"):
        columns = ", ".join(c.name for c in thing.columns)
        return f"{what} {thing.table.name} ({columns})"
    return repr(diff)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_strata_read_only_columns_of_the_compound_day_index() -> None:
    """The audit correction's strata stay an index-only scan: a column the query comes to read
    (a new group key, a weight) must join `ix_events_compound_day` (STRATA_COLUMNS, a migration)."""
    stmt = event_strata(Place(path="/city/"), date(2025, 1, 1), date(2025, 1, 31))
    read = {e.name for e in iterate(stmt) if isinstance(e, Column) and e.table is Event.__table__}
    (index,) = [
        i for i in Base.metadata.tables["events"].indexes if i.name == "ix_events_compound_day"
    ]
    covered = {c.name for c in index.columns}
    assert {"category", "reviewed", "sample_share", "id"} <= read  # the walk reaches every part
    assert read <= covered, f"read outside the index: {read - covered}"


def test_serve_runs_with_nothing_configured(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "binwatch", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stdout.read() if server.stdout else "") from None
                time.sleep(0.3)
        assert health.status_code == 200 and health.json()["schema_current"]
        assert (tmp_path / "binwatch-data" / "binwatch.db").is_file()
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"username": "nobody", "password": "nothing"},
        )
        assert login.status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=20)
