"""The place tree and households: creation, lookup, jurisdiction, and CSV import.

CSV import (`binwatch places import FILE`, `POST /api/v1/places/import`) takes one file whose
rows are places, bins and households, parents before children:

    kind,code,name,parent,category,profile,registered,cards,lat,lon
    district,D1,Pudong,,,,,
    street,S1,Huamu,D1,,,,
    community,C1,Lianyang,S1,,,,
    compound,K1,Green Court,C1,,,,
    station,ST1,Gate 3,K1,,shanghai,,
    bin,B1,kitchen bin,ST1,kitchen,,,
    household,H1,,K1,,,yes,9f2c...;a07d...

The whole file is checked first; if any row is wrong nothing is written and every wrong row is
reported with its line number. Rows whose code exists already update the name (a place cannot
move to another parent by import).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import PARENT_KIND, Bin, Card, Household, Place, PlaceKind
from vision.errors import TaxonomyError
from vision.taxonomy import BUILTIN_PROFILES, load_profile

COLUMNS = (
    "kind",
    "code",
    "name",
    "parent",
    "category",
    "profile",
    "registered",
    "cards",
    "lat",
    "lon",
)
KINDS = (*(k.value for k in PlaceKind), "bin", "household")
_TRUE, _FALSE = {"yes", "y", "true", "1", ""}, {"no", "n", "false", "0"}
CODE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass
class ImportResult:
    rows: int = 0
    created: dict[str, int] = field(default_factory=dict)
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def add_place(
    session: Session,
    kind: PlaceKind,
    code: str,
    name: str,
    parent: Place | None,
    profile: str = "national",
) -> Place:
    want = PARENT_KIND[kind]
    if (parent is None) != (want is None) or (parent is not None and parent.kind != want):
        raise ValueError(f"a {kind.value} must sit under a {want.value if want else 'nothing'}")
    place = Place(
        kind=kind.value,
        code=code,
        name=name or code,
        parent_id=parent and parent.id,
        path="",
        profile=profile,
    )
    session.add(place)
    session.flush()
    place.path = (parent.path if parent else "/") + f"{place.id}/"
    return place


def is_under(place_path: str, scope_paths: list[str]) -> bool:
    return any(place_path.startswith(p) for p in scope_paths)


def compound_of(session: Session, place: Place) -> Place | None:
    """The compound a station belongs to, or the place itself when it is a compound."""
    if place.kind == PlaceKind.COMPOUND:
        return place
    if place.kind == PlaceKind.STATION and place.parent_id is not None:
        return session.get(Place, place.parent_id)
    return None


class _Importer:
    def __init__(self, session: Session):
        self.session = session
        self.result = ImportResult()
        self.places: dict[str, Place] = {p.code: p for p in session.scalars(select(Place))}
        self.bins = {b.code: b for b in session.scalars(select(Bin))}
        self.households = {h.code: h for h in session.scalars(select(Household))}
        self.cards = {c.pseudonym: c.household_id for c in session.scalars(select(Card))}
        self.pending_kind: dict[str, str] = {p.code: p.kind for p in self.places.values()}
        self.pending_profile: dict[str, str] = {p.code: p.profile for p in self.places.values()}
        self.seen: set[str] = set()

    def check(self, line: int, row: dict[str, str]) -> str | None:
        kind, code, parent = row["kind"], row["code"], row["parent"]
        if kind not in KINDS:
            return f"unknown kind {kind!r} (one of: {', '.join(KINDS)})"
        if not code or len(code) > 64 or not set(code) <= CODE_CHARS:
            return f"code {code!r} must be 1-64 letters, digits or ._:-"
        if code in self.seen:
            return f"code {code!r} appears twice in the file"
        self.seen.add(code)
        if len(row["name"]) > 200:
            return "name is longer than 200 characters"
        want = {"bin": PlaceKind.STATION, "household": PlaceKind.COMPOUND}.get(kind)
        if want is None:
            want = PARENT_KIND[PlaceKind(kind)]
        parent_kind = self.pending_kind.get(parent) if parent else None
        if want is None and parent:
            return f"a {kind} has no parent, got {parent!r}"
        if want is not None and parent_kind != want.value:
            found = f"a {parent_kind}" if parent_kind else "not defined above"
            return f"parent {parent!r} must be a {want.value} ({found})"
        existing = self._existing(kind, code)
        if existing is not None and existing != parent:
            return f"{code!r} exists under {existing!r}; import cannot move it"
        if row["lat"] or row["lon"]:
            if kind in ("bin", "household"):
                return f"a {kind} has no coordinates"
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except ValueError:
                return f"lat and lon must both be numbers, got {row['lat']!r}, {row['lon']!r}"
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return f"coordinates out of range: {lat}, {lon}"
        if kind == PlaceKind.STATION:
            profile = row["profile"] or "national"
            if profile not in BUILTIN_PROFILES:
                return f"unknown profile {profile!r} (one of: {', '.join(BUILTIN_PROFILES)})"
            self.pending_profile[code] = profile
        if kind == "bin":
            try:
                load_profile(self.pending_profile[parent]).accepted(row["category"])
            except TaxonomyError as exc:
                return str(exc)
        if kind == "household":
            if row["registered"].lower() not in _TRUE | _FALSE:
                return f"registered must be yes or no, got {row['registered']!r}"
            for card in filter(None, row["cards"].split(";")):
                if not (16 <= len(card) <= 64 and set(card) <= set("0123456789abcdef")):
                    return f"card pseudonym {card[:20]!r} must be 16-64 lowercase hex digits"
                owner = self.cards.get(card)
                if owner is not None and owner != (self.households.get(code) or Household()).id:
                    return f"card {card[:12]}… belongs to another household"
        if kind in (k.value for k in PlaceKind):
            self.pending_kind[code] = kind
        return None

    def _existing(self, kind: str, code: str) -> str | None:
        if kind == "bin" and code in self.bins:
            station = self.session.get(Place, self.bins[code].station_id)
            return station.code if station else None
        if kind == "household" and code in self.households:
            compound = self.session.get(Place, self.households[code].compound_id)
            return compound.code if compound else None
        place = self.places.get(code)
        if place is None or kind in ("bin", "household"):
            return None
        parent = self.session.get(Place, place.parent_id) if place.parent_id else None
        return parent.code if parent else ""

    def apply(self, row: dict[str, str]) -> None:
        kind, code, name, parent = row["kind"], row["code"], row["name"], row["parent"]
        created = self.result.created
        if kind == "bin":
            if code in self.bins:
                self.bins[code].category = row["category"]
                self.result.updated += 1
                return
            self.bins[code] = Bin(
                code=code, station_id=self.places[parent].id, category=row["category"]
            )
            self.session.add(self.bins[code])
        elif kind == "household":
            household = self.households.get(code)
            is_new = household is None
            if household is None:
                household = Household(code=code, compound_id=self.places[parent].id)
                self.session.add(household)
                self.households[code] = household
            household.registered = row["registered"].lower() in _TRUE
            self.session.flush()
            for card in filter(None, row["cards"].split(";")):
                if card not in self.cards:
                    self.session.add(Card(pseudonym=card, household_id=household.id))
                    self.cards[card] = household.id
            if not is_new:
                self.result.updated += 1
                return
        elif code in self.places:
            self.places[code].name = name or code
            if kind == PlaceKind.STATION:
                self.places[code].profile = row["profile"] or "national"
            self._locate(self.places[code], row)
            self.result.updated += 1
            return
        else:
            self.places[code] = add_place(
                self.session,
                PlaceKind(kind),
                code,
                name,
                self.places.get(parent),
                row["profile"] or "national",
            )
            self._locate(self.places[code], row)
        created[kind] = created.get(kind, 0) + 1

    @staticmethod
    def _locate(place: Place, row: dict[str, str]) -> None:
        if row["lat"] and row["lon"]:
            place.lat, place.lon = float(row["lat"]), float(row["lon"])


def import_csv(session: Session, text: str) -> ImportResult:
    """Check every row, then write all of them or none. The caller commits."""
    importer = _Importer(session)
    # newline="": the csv module sees \r, \n and \r\n line ends (and newlines inside quotes)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows: list[dict[str, str]] = []
    try:
        missing = [c for c in ("kind", "code", "parent") if c not in (reader.fieldnames or [])]
        if missing:
            importer.result.errors.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
            return importer.result
        for line, raw in enumerate(reader, start=2):
            row = {c: (raw.get(c) or "").strip() for c in COLUMNS}
            problem = importer.check(line, row)
            if problem:
                importer.result.errors.append(RowError(line, problem))
            rows.append(row)
    except csv.Error as exc:
        importer.result.errors.append(RowError(reader.line_num, f"not readable as CSV: {exc}"))
        return importer.result
    importer.result.rows = len(rows)
    if importer.result.errors:
        return importer.result
    for row in rows:
        importer.apply(row)
    session.flush()
    return importer.result
