"""The deployment files people use (deploy/): the systemd units, the example settings and the
compose file parse, and every command line and setting in them is one binwatch knows (compose
itself cannot run here)."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from api.settings import Mode, Settings
from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys keep their case
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"))
    return parser


def known_command(argv: list[str]) -> None:
    """`binwatch SUB ... --flag ...`: the subcommand answers --help and names every flag."""
    assert Path(argv[0]).name == "binwatch", argv
    words = [a for a in argv[1:] if not a.startswith("-")]
    sub = argv[1:3] if argv[1] == "edge" else argv[1:2]
    helped = subprocess.run(
        [sys.executable, "-m", "binwatch", *sub, "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr
    for flag in (a for a in argv if a.startswith("--")):
        assert flag in helped.stdout, f"{' '.join(sub)} has no {flag}"
    assert words


@pytest.mark.parametrize("name", ["binwatch.service", "binwatch-edge.service"])
def test_the_systemd_units(name: str) -> None:
    parsed = unit(name)
    assert {"Unit", "Service", "Install"} <= set(parsed.sections())
    service = parsed["Service"]
    assert service["Restart"] == "always" and service["User"] == "binwatch"
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).is_absolute()
    known_command(command)
    assert service["ReadWritePaths"].startswith("/var/lib/")
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


def test_the_housekeeping_timer() -> None:
    timer = unit("binwatch-maintenance.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    service = unit("binwatch-maintenance.service")["Service"]
    assert service["Type"] == "oneshot" and service["User"] == "binwatch"
    commands = [shlex.split(service[key]) for key in ("ExecStart", "ExecStartPost")]
    for command in commands:
        known_command(command)
    assert [c[1:] for c in commands] == [["db", "purge-evidence"], ["db", "retire-events"]]
    helped = subprocess.run(
        [sys.executable, "-m", "binwatch", "db", "--help"], capture_output=True, text=True
    )
    assert "purge-evidence" in helped.stdout and "retire-events" in helped.stdout


def test_the_example_settings_are_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (DEPLOY / "binwatch.env.example").read_text(encoding="utf-8").splitlines()
    pairs = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    fields = {f"BINWATCH_{name.upper()}" for name in Settings.model_fields}
    assert set(pairs) <= fields, set(pairs) - fields
    for key, value in pairs.items():
        monkeypatch.setenv(key, value.replace("REPLACE-with-a-long-random-secret", "s" * 48))
    monkeypatch.setenv("BINWATCH_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.mode is Mode.PRODUCTION and settings.public_url
    assert settings.database_url and settings.database_url.startswith("postgresql+psycopg://")
    assert settings.storage_url == "s3://binwatch/files"
    assert settings.event_retention_months == 25


def test_the_compose_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"postgres", "minio", "binwatch"}
    app = services["binwatch"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["depends_on"]["minio"]["condition"] == "service_healthy"
    assert Settings(storage_url=app["environment"]["BINWATCH_STORAGE_URL"]).storage_url
    assert (REPO / app["build"]["dockerfile"]).is_file()
    assert app["environment"]["BINWATCH_DATABASE_URL"].startswith("postgresql+psycopg://")
    known_command(app["command"])
    assert all(v.split(":")[0] in compose["volumes"] for v in app["volumes"])
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "'.[api]'" in dockerfile and "fonts-wqy-microhei" in dockerfile
