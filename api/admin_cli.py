"""`binwatch db|places|users|devices ...`: the service's administration from a shell.

binwatch db upgrade                       migrate the database to the newest schema
binwatch db current                       print the schema revision
binwatch db purge-evidence                delete evidence images past BINWATCH_RETENTION_DAYS
binwatch db retire-events [--dry-run]     export and drop months of events past
                                          BINWATCH_EVENT_RETENTION_MONTHS (counters stay)
binwatch places import FILE.csv           import places, bins and households (all or none)
binwatch places qr STATION... [--out DIR] [--font FILE] [--format png|pdf|both]
                                          a printable poster per station: its name and a QR
                                          code to the residents' page (BINWATCH_PUBLIC_URL)
binwatch users create NAME --role ROLE [--scope CODE ...]   (password from stdin or prompt)
binwatch devices create CODE --station STATION              (prints the token, once)
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vision.errors import BinwatchError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

DESCRIPTION = "administer the service: database, places, users, devices"


class AdminError(BinwatchError):
    pass


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="+", help="see `binwatch db --help`")
    parser.add_argument("--role", choices=["admin", "office", "supervisor", "engineer"])
    parser.add_argument("--scope", action="append", default=[], help="place code (repeatable)")
    parser.add_argument("--station", help="the station a device belongs to")
    parser.add_argument("--password-stdin", action="store_true", help="read the password")
    parser.add_argument("--dry-run", action="store_true", help="db retire-events: only list")
    parser.add_argument("--out", type=Path, default=Path("posters"), help="places qr: folder")
    parser.add_argument("--font", type=Path, help="places qr: a font with Chinese characters")
    parser.add_argument("--format", choices=["png", "pdf", "both"], default="both")
    parser.epilog = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _sessions() -> sessionmaker[Session]:
    from api.db.engine import make_engine, make_sessionmaker
    from api.db.migrate import upgrade
    from api.settings_cli import load_settings

    engine = make_engine(load_settings())
    upgrade(engine)
    return make_sessionmaker(engine)


def run(args: argparse.Namespace) -> int:
    command = args.command
    action = args.action
    handlers = {
        ("db", "upgrade"): _db_upgrade,
        ("db", "current"): _db_current,
        ("db", "purge-evidence"): _db_purge,
        ("db", "retire-events"): _db_retire,
        ("places", "import"): _places_import,
        ("places", "qr"): _places_qr,
        ("users", "create"): _users_create,
        ("devices", "create"): _devices_create,
    }
    handler = handlers.get((command, action[0]))
    if handler is None:
        known = ", ".join(f"{c} {a}" for c, a in handlers if c == command)
        raise AdminError(f"unknown action {' '.join(action)!r} for {command} (known: {known})")
    return handler(args, action[1:])


def _db_upgrade(args: argparse.Namespace, rest: list[str]) -> int:
    from api.db.engine import make_engine, make_sessionmaker
    from api.db.migrate import current, upgrade
    from api.db.partitions import ensure_now
    from api.settings_cli import load_settings

    engine = make_engine(load_settings())
    upgrade(engine)
    made = ensure_now(make_sessionmaker(engine))
    print(f"database at schema revision {current(engine)}")
    if made:
        print(f"created event partitions: {', '.join(made)}")
    return 0


def _db_retire(args: argparse.Namespace, rest: list[str]) -> int:
    from datetime import datetime

    from api.event_retention import RetentionError, retire_events
    from api.settings_cli import load_settings

    settings = load_settings()
    if settings.event_retention_months is None:
        print("BINWATCH_EVENT_RETENTION_MONTHS is not set: every event is kept")
        return 0
    today = datetime.now(settings.zone).date()
    with _sessions()() as session:
        try:
            done = retire_events(session, settings, today, dry_run=args.dry_run)
        except RetentionError as exc:
            raise AdminError(str(exc)) from exc
    verb = "would retire" if args.dry_run else "retired"
    for month in done:
        print(f"{verb} {month.month}: {month.events} events -> {month.export_key}")
    if not done:
        print(f"no month past the last {settings.event_retention_months} to retire")
    return 0


def _db_current(args: argparse.Namespace, rest: list[str]) -> int:
    from api.db.engine import make_engine
    from api.db.migrate import current, head
    from api.settings_cli import load_settings

    revision = current(make_engine(load_settings()))
    print(f"{revision} (newest: {head()})")
    return 0 if revision == head() else 1


def _db_purge(args: argparse.Namespace, rest: list[str]) -> int:
    from datetime import UTC, datetime

    from api.db.engine import make_engine, make_sessionmaker
    from api.retention import purge_evidence
    from api.settings_cli import load_settings

    settings = load_settings()
    with make_sessionmaker(make_engine(settings))() as session:
        purged = purge_evidence(session, settings, datetime.now(UTC))
        session.commit()
    print(f"deleted {purged} evidence image(s) older than {settings.retention_days} days")
    return 0


def _places_qr(args: argparse.Namespace, rest: list[str]) -> int:
    from sqlalchemy import select

    from api.db.models import Place, PlaceKind
    from api.posters import PosterError, Station, find_font, write_posters
    from api.settings_cli import load_settings

    if not rest:
        raise AdminError("usage: binwatch places qr STATION... [--out DIR]")
    settings = load_settings()
    if settings.public_url is None:
        raise AdminError(
            "set BINWATCH_PUBLIC_URL: the address residents' phones reach the service at "
            "(the posters' QR codes link there)"
        )
    sessions = _sessions()
    with sessions() as session:
        found = {
            p.code: Station(p.code, p.name)
            for p in session.scalars(
                select(Place).where(
                    Place.code.in_(rest),
                    Place.kind.in_((PlaceKind.STATION.value, PlaceKind.COMPOUND.value)),
                )
            )
        }
    missing = [code for code in rest if code not in found]
    if missing:
        raise AdminError(f"no station or compound {', '.join(missing)}")
    formats = ("png", "pdf") if args.format == "both" else (args.format,)
    try:
        written = write_posters(
            [found[c] for c in rest], settings.public_url, args.out, find_font(args.font), formats
        )
    except PosterError as exc:
        raise AdminError(str(exc)) from None
    for path in written:
        print(path)
    return 0


def _places_import(args: argparse.Namespace, rest: list[str]) -> int:
    from api.places import import_csv

    if len(rest) != 1:
        raise AdminError("usage: binwatch places import FILE.csv")
    path = Path(rest[0])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AdminError(f"cannot read {path}: {exc}") from None
    sessions = _sessions()
    with sessions() as session:
        result = import_csv(session, text)
        if result.errors:
            session.rollback()
            for error in result.errors:
                print(f"{path}:{error.line}: {error.message}", file=sys.stderr)
            print(f"{len(result.errors)} bad row(s); nothing imported", file=sys.stderr)
            return 1
        session.commit()
    made = ", ".join(f"{n} {kind}(s)" for kind, n in result.created.items()) or "nothing new"
    print(f"{result.rows} rows: created {made}; updated {result.updated}")
    return 0


def _users_create(args: argparse.Namespace, rest: list[str]) -> int:
    from pydantic import ValidationError

    from api.schemas import UserCreate
    from api.users import create_user

    if len(rest) != 1 or not args.role:
        raise AdminError("usage: binwatch users create NAME --role ROLE [--scope CODE ...]")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {rest[0]}: ")
    try:
        body = UserCreate(username=rest[0], password=password, role=args.role, scope=args.scope)
    except ValidationError as exc:
        raise AdminError("; ".join(e["msg"] for e in exc.errors())) from None
    sessions = _sessions()
    with sessions() as session:
        try:
            create_user(session, body)
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        session.commit()
    print(f"created {args.role} {rest[0]}")
    return 0


def _devices_create(args: argparse.Namespace, rest: list[str]) -> int:
    from api.devices import register_device

    if len(rest) != 1 or not args.station:
        raise AdminError("usage: binwatch devices create CODE --station STATION")
    sessions = _sessions()
    with sessions() as session:
        try:
            _, token = register_device(session, rest[0], args.station)
        except (ValueError, LookupError) as exc:
            raise AdminError(str(exc).strip("'\"")) from None
        session.commit()
    print(f"device {rest[0]} at station {args.station}; its token (shown once):")
    print(token)
    return 0
