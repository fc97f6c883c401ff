"""The place tree import: every wrong row reported with its line, all or nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from api.db.models import Household, Place
from tests.api.world import World

BAD = """kind,code,name,parent,category,profile,registered,cards
street,S9,New street,D1,,,,
compound,K9,Orphan,NOPE,,,,
station,ST9,Gate,K1,,martian,,
bin,B9,wrong,ST1,compost,,,
household,H9,,K1,,,maybe,
household,H10,,K1,,,yes,NOT-HEX
planet,P1,Mars,,,,,
street,S9,Again,D1,,,,
"""


def count(world: World, model: type) -> int:
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_every_bad_row_is_reported_and_nothing_is_written(world: World) -> None:
    before = count(world, Place), count(world, Household)
    response = world.post(
        "/api/v1/places/import", "admin", content=BAD.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    errors = {e["line"]: e["message"] for e in response.json()["detail"]["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9]
    assert "parent 'NOPE' must be a community" in errors[3]
    assert "unknown profile 'martian'" in errors[4]
    assert "unknown bin 'compost'" in errors[5]
    assert "registered must be yes or no" in errors[6]
    assert "card pseudonym" in errors[7]
    assert "unknown kind 'planet'" in errors[8]
    assert "appears twice" in errors[9]
    assert (count(world, Place), count(world, Household)) == before


def test_reimport_updates_names_and_refuses_moves(world: World) -> None:
    rename = "kind,code,name,parent\ncompound,K1,Green Court North,C1\n"
    response = world.post(
        "/api/v1/places/import",
        "admin",
        content=rename.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200 and response.json()["updated"] == 1
    assert world.get("/api/v1/places/K1", "admin").json()["name"] == "Green Court North"
    move = "kind,code,name,parent\ncompound,K1,Green Court,C2\n"
    moved = world.post(
        "/api/v1/places/import",
        "admin",
        content=move.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert moved.status_code == 422
    assert "cannot move" in moved.json()["detail"]["errors"][0]["message"]


def test_places_listing_follows_jurisdiction(world: World) -> None:
    codes = {p["code"] for p in world.get("/api/v1/places", "super_k1").json()}
    assert codes == {"K1", "ST1"}
    office = {p["code"] for p in world.get("/api/v1/places", "office_s1", kind="compound").json()}
    assert office == {"K1", "K2"}
    assert world.get("/api/v1/places/K3", "office_s1").status_code == 404
    assert len(world.get("/api/v1/places/ST1/bins", "super_k1").json()) == 4


def test_cli_import_reports_lines(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"BINWATCH_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    good = tmp_path / "good.csv"
    good.write_text("kind,code,name,parent\ndistrict,D1,Pudong,\nstreet,S1,Huamu,D1\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,code,name,parent\nstreet,S2,Nowhere,D9\n")
    run = [sys.executable, "-m", "binwatch", "places", "import"]
    ok = subprocess.run([*run, str(good)], capture_output=True, text=True, env=env, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "created 1 district(s), 1 street(s)" in ok.stdout
    wrong = subprocess.run([*run, str(bad)], capture_output=True, text=True, env=env, check=False)
    assert wrong.returncode == 1
    assert f"{bad}:2: parent 'D9' must be a district" in wrong.stderr


def test_coordinates_for_the_map(world: World) -> None:
    located = (
        "kind,code,name,parent,lat,lon\n"
        "station,ST1,K1 gate,K1,31.2304,121.4737\n"
        "station,ST9,new gate,K1,91,0\n"
    )
    bad = world.post(
        "/api/v1/places/import",
        "admin",
        content=located.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert bad.status_code == 422
    assert "out of range" in bad.json()["detail"]["errors"][0]["message"]
    good = located.splitlines()[:2]
    made = world.post(
        "/api/v1/places/import",
        "admin",
        content="\n".join(good).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert made.status_code == 200, made.text
    station = world.get("/api/v1/places/ST1", "super_k1").json()
    assert (station["lat"], station["lon"]) == (31.2304, 121.4737)


def test_unreadable_csv_is_a_clear_error(world: World) -> None:
    """A lone carriage return once made the CSV reader raise (found by the fuzz test)."""
    for body in ("\r0", 'kind,code,parent\nstation,"ST9\n'):
        response = world.post(
            "/api/v1/places/import",
            "admin",
            content=body.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"]["errors"], response.text
