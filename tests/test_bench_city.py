"""`bench/city.py` works end to end, briefly: a few stations post to `binwatch serve --workers 2`
on PostgreSQL with evidence in a bucket on moto's S3 server, and the report counts what was
stored (the real figures are in the README; this only proves the benchmark measures something)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from api.settings import Settings
from tests.conftest import REPO

POSTGRES_URL = os.environ.get("BINWATCH_TEST_POSTGRES_URL")


def test_a_short_city_day(tmp_path: Path) -> None:
    if not POSTGRES_URL:
        if os.environ.get("BINWATCH_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("BINWATCH_TEST_REQUIRE_POSTGRES=1 but BINWATCH_TEST_POSTGRES_URL is unset")
        pytest.skip("no PostgreSQL: set BINWATCH_TEST_POSTGRES_URL (.ci/run starts a server)")
    out = tmp_path / "city.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.city", "--postgres", POSTGRES_URL, "--devices", "6",
         "--workers", "2", "--batches", "1,5", "--seconds", "4", "--peak-seconds", "4",
         "--day", "200000", "--evidence-share", "0.3", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    phases = [*result["saturation"].values(), *result["peak_hour"].values()]
    assert len(phases) == 4
    for phase in phases:
        assert phase["events_stored"] > 0 and phase["errors"] == 0, phase
        shares = phase["cpu_share_of_machine"]
        assert shares["service"] > 0 and 0 < shares["machine busy"] <= 1.05, shares
    assert sum(p["evidence_uploads"] for p in phases) > 0
    assert result["saturation"]["5"]["events_per_s"] > result["saturation"]["1"]["events_per_s"]
    assert "peak hour ×10" in run.stdout


def test_a_burst_of_stations_is_served(tmp_path: Path) -> None:
    """More stations posting at once than a process has threads and connections: every post is
    answered (requests wait for a database slot in the event loop; without that, handlers
    waiting for a connection took every thread the sessions holding connections needed to
    close, and nothing was stored until the pool's timeout failed them all)."""
    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL: set BINWATCH_TEST_POSTGRES_URL (.ci/run starts a server)")
    from bench.city import Device, Load, prepare, serve
    from bench.ingest import fresh_postgres

    url, admin = fresh_postgres(POSTGRES_URL)
    settings = Settings(data_dir=tmp_path, database_url=url)
    tokens = prepare(settings, 120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env |= {"BINWATCH_DATA_DIR": str(tmp_path), "BINWATCH_DATABASE_URL": url,
            "BINWATCH_DB_CONNECTIONS": "6"}  # fmt: skip
    server, base = serve(settings, env, workers=1)
    load = Load()
    try:

        async def burst() -> None:
            devices = [Device(k, t, [b"unused"], 0.0, k) for k, t in enumerate(tokens)]
            limits = httpx.Limits(max_connections=len(devices))
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
                await asyncio.gather(*(d.send(client, 2, load) for d in devices))

        asyncio.run(burst())
    finally:
        server.terminate()
        server.wait(timeout=60)
        with admin.connect() as connection:
            connection.execute(
                text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            )
        admin.dispose()
    assert load.errors == 0 and load.transport_errors == {}, load.transport_errors
    assert load.stored == 240
