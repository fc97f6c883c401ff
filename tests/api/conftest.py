"""The service under test: a fresh database per test, on SQLite in tmp_path and, when
BINWATCH_TEST_POSTGRES_URL points at a server (`.ci/run` starts one), on PostgreSQL too."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from api.db.migrate import upgrade
from api.settings import Settings
from tests.api.world import World, build_world
from tests.s3 import new_bucket

POSTGRES_URL = os.environ.get("BINWATCH_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("BINWATCH_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'binwatch.db'}"
        return
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("BINWATCH_TEST_REQUIRE_POSTGRES=1 but BINWATCH_TEST_POSTGRES_URL is unset")
        pytest.skip("no PostgreSQL: set BINWATCH_TEST_POSTGRES_URL (.ci/run starts a server)")
    name = f"binwatch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def storage(request: pytest.FixtureRequest) -> str | None:
    """Where the service keeps its files: the data directory, unless a test asks for both
    backends with `@pytest.mark.parametrize("storage", ["local", "s3"], indirect=True)`; then
    `s3` is a fresh bucket on the loopback S3 server."""
    if getattr(request, "param", "local") == "local":
        return None
    endpoint = request.getfixturevalue("s3_endpoint")
    return f"s3://{new_bucket(endpoint)}/service"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, storage: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, audit_share=0.5, storage_url=storage
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    upgrade(app.state.engine)
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()


@pytest.fixture
def world(client: TestClient, settings: Settings) -> World:
    return build_world(client, settings)
