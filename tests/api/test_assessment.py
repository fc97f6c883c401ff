"""The assessment a street runs: its scheme as data (validated, with paths in every error), the
score (pure, table-driven), and the table through the API, CSV and XLSX: every indicator, the
score, the grade, the change against last month, ranked by the score and never by raw accuracy."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from api.assessment.scheme import SchemeError, default_scheme, parse
from api.assessment.score import Value, assess
from tests.api.world import World, event

AUDIT = {"sha256": "0" * 64, "bytes": 10, "width": 4, "height": 4, "reason": "audit"}
FLAG = {**AUDIT, "reason": "flagged"}
PARTICIPATION = "weight: 1, bands: [{at_least: 0.5, colour: green}, {at_least: 0, colour: red}]"
SMALL = """
name: two indicators
indicators:
  participation: {weight: 1, bands: [{at_least: 0.5, colour: green}, {at_least: 0, colour: red}]}
  corrected_accuracy: {weight: 3, bands: [{at_least: 0, colour: yellow}]}
grades: [{at_least: 70, name: A}, {at_least: 0, name: B}]
min_weight_with_data: 0.5
"""


def test_the_default_scheme_ships_and_grades() -> None:
    scheme = default_scheme()
    assert set(scheme.indicators) == {
        "participation",
        "corrected_accuracy",
        "kitchen_purity",
        "reports_handled",
        "inspections",
    }
    assert [scheme.grade(s) for s in (95, 90, 85, 60, 59.9, 0)] == [
        "优秀",
        "优秀",
        "良好",
        "合格",
        "不合格",
        "不合格",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("weight: -1", "indicators.participation.weight"),
        ("weight: 1, colour_of_bins: blue", "indicators.participation.colour_of_bins"),
        ("weight: 1, bands: [{at_least: 0.2, colour: red}]", "down to one at 0"),
    ],
)
def test_scheme_errors_name_their_path(change: str, message: str) -> None:
    text = SMALL.replace(PARTICIPATION, change)
    with pytest.raises(SchemeError, match=message.replace(".", r"\.")):
        parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "a YAML mapping"),
        ("name: [unclosed", "not YAML"),
        (SMALL.replace("participation:", "happiness:"), "indicators.happiness"),
        (SMALL.replace("{at_least: 0, name: B}", "{at_least: 10, name: B}"), "grades go"),
        (
            SMALL.replace("participation:", "reports_handled:"),
            "reports_handled needs `within_days`",
        ),
        (SMALL.replace("weight: 3", "weight: 0").replace("weight: 1", "weight: 0"), "nothing"),
    ],
)
def test_scheme_errors(text: str, message: str) -> None:
    with pytest.raises(SchemeError, match=message):
        parse(text)


@pytest.mark.parametrize(
    ("participation", "accuracy", "score", "grade", "colours", "lacking"),
    [
        (1.0, 0.6, 100 * (1 * 1.0 + 3 * 0.6) / 4, "A", ("green", "yellow"), ()),
        (0.4, 0.5, 100 * (0.4 + 1.5) / 4, "B", ("red", "yellow"), ()),
        (None, 0.9, 90.0, "A", (None, "yellow"), ("participation",)),  # 3 of 4: renormalised
        (0.9, None, None, None, ("green", None), ("corrected_accuracy",)),  # 1 of 4: withheld
        (None, None, None, None, (None, None), ("participation", "corrected_accuracy")),
    ],
)
def test_score(
    participation: float | None,
    accuracy: float | None,
    score: float | None,
    grade: str | None,
    colours: tuple[str | None, ...],
    lacking: tuple[str, ...],
) -> None:
    values = {
        "participation": Value(participation, 10, None if participation is not None else "x"),
        "corrected_accuracy": Value(accuracy, 40, None if accuracy is not None else "y"),
    }
    result = assess(values, parse(SMALL))
    assert result.score == (None if score is None else pytest.approx(score))
    assert result.grade == grade
    assert tuple(i.colour for i in result.indicators) == colours
    assert result.lacking == lacking
    assert (result.reason is None) == (score is not None)


def decide_all(world: World, ids: set[str], verdicts: dict[str, str]) -> None:
    """super_k1 decides each queued event: overturn the ones in `verdicts` marked so."""
    queue = world.get("/api/v1/review/queue", "super_k1", limit="500").json()
    for item in queue:
        event_id = item["event"]["event_id"] if item["event"] else None
        if event_id not in ids:
            continue
        body = {"decision": verdicts.get(event_id, "confirm")}
        made = world.post(f"/api/v1/review/items/{item['id']}/decision", "super_k1", json=body)
        assert made.status_code == 201, made.text


def month_of_k1(
    world: World, at: datetime, households: list[str], overturned: int, flags: int
) -> None:
    """40 audited kitchen drop-offs at K1 (`overturned` of them found contaminated) and `flags`
    confirmed flags, all decided: the corrected accuracy is (40 − overturned) / (40 + flags)."""
    audits = [
        event(
            "B1",
            "kitchen",
            household=households[n % len(households)],
            at=at + timedelta(seconds=n),
            evidence=AUDIT,
            audit_share=0.5,
        )
        for n in range(40)
    ]
    flagged = [
        event("B1", "kitchen", "other", verdict="contaminated", at=at, evidence=FLAG)
        for _ in range(flags)
    ]
    assert world.send("cam-ST1", audits + flagged).status_code == 200
    ids = {str(e.event_id) for e in audits + flagged}
    decide_all(world, ids, {str(e.event_id): "overturn" for e in audits[:overturned]})


def inspect(world: World, day: date, kinds: list[str]) -> None:
    for kind in kinds:
        body = {"place": "ST1", "day": str(day), "inspector": "Zhou", "kind": kind}
        made = world.post("/api/v1/inspections", "office_s1", json=body)
        assert made.status_code == 201, made.text


def assessed(world: World, month: str, who: str = "office_s1") -> list[dict[str, Any]]:
    response = world.get("/api/v1/assessment", who, place="S1", month=month)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_the_streets_assessment(world: World) -> None:
    today = datetime.now(UTC).astimezone(world.settings.zone).date()
    this = today.replace(day=1)
    last = (this - timedelta(days=1)).replace(day=1)
    month, before = this.strftime("%Y-%m"), last.strftime("%Y-%m")
    # last month: H1 alone, every audit correct, no inspections, no reports
    start_of_last = datetime.combine(last, datetime.min.time(), world.settings.zone)
    month_of_k1(world, start_of_last + timedelta(hours=9), ["H1"], overturned=0, flags=0)
    # this month: H1 and H2 of four registered; 4 of 40 audits wrong, 5 flags confirmed
    just_now = datetime.now(UTC) - timedelta(minutes=1)  # this month (unless it began a minute ago)
    month_of_k1(world, just_now, ["H1", "H2"], overturned=4, flags=5)
    inspect(world, this, ["guidance"] * 4 + ["undercover"])
    report = world.client.post("/api/v1/public/reports", data={"place": "ST1", "text": "a cell"})
    assert report.status_code == 201
    item = world.get("/api/v1/review/queue", "super_k1", reason="report").json()[0]["id"]
    handled = world.post(
        f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "confirm"}
    )
    assert handled.status_code == 201
    now = datetime.now(UTC)  # K2: drop-offs this month, no audits at all
    world.send("cam-ST2", [event("B5", "kitchen", household="H6", at=now)])

    rows = assessed(world, month)
    assert [(r["rank"], r["place"]) for r in rows] == [(1, "K1"), (None, "K2")]
    k1, k2 = rows
    values = {i["key"]: i["value"] for i in k1["indicators"]}
    assert values == {
        "participation": 0.5,
        "corrected_accuracy": pytest.approx(36 / 45),
        "kitchen_purity": pytest.approx(36 / 45),
        "reports_handled": 1.0,
        "inspections": 1.0,
    }
    assert {i["key"]: i["n"] for i in k1["indicators"]}["corrected_accuracy"] == 40
    expected = (25 * 0.5 + 35 * 36 / 45 + 20 * 36 / 45 + 10 + 10) / 100 * 100
    assert k1["score"] == pytest.approx(expected) and k1["grade"] == "合格"
    previous = 100 * (25 * 0.25 + 35 + 20 + 10 * 0) / 90  # no reports: 90 of 100 weight
    assert k1["score_last_month"] == pytest.approx(previous)
    assert k1["change"] == pytest.approx(expected - previous)
    assert k1["lacking"] == [] and k1["reason"] is None
    assert k2["score"] is None and k2["grade"] is None and "not enough data" in k2["reason"]
    lacks = {i["key"]: i["lacks"] for i in k2["indicators"]}
    assert lacks["corrected_accuracy"] == "not enough audits (0)"
    assert {"corrected_accuracy", "kitchen_purity"} <= set(k2["lacking"])
    assert "default" in k1["scheme"]
    # the rankings follow the score
    first = f"{month}-01"
    ranks = world.get(
        "/api/v1/stats/rankings", "office_s1", place="S1", start=first, end=str(today)
    )
    assert [r["place"] for r in ranks.json()] == ["K1", "K2"]

    # the monthly report carries the same numbers, ranked
    report_csv = world.get("/api/v1/reports/monthly", "office_s1", place="S1", month=month)
    table = list(csv.DictReader(io.StringIO(report_csv.content.decode("utf-8-sig"))))
    assert [r["compound"] for r in table] == ["K1", "K2"]
    assert float(table[0]["score"]) == pytest.approx(round(expected, 1))
    assert table[0]["grade"] == "合格" and table[0]["rank"] == "1"
    assert float(table[0]["change"]) == pytest.approx(round(expected - previous, 1))
    assert float(table[0]["indicator: corrected_accuracy"]) == pytest.approx(36 / 45, abs=1e-4)
    assert table[1]["indicator: corrected_accuracy"] == "not enough audits (0)"
    assert "not enough data" in table[1]["score"] and table[1]["rank"] == ""
    book = world.get("/api/v1/reports/monthly", "office_s1", place="S1", month=month, format="xlsx")
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    k1_row = dict(zip(header, next(sheet.iter_rows(min_row=2, values_only=True)), strict=True))
    assert k1_row["grade"] == "合格" and k1_row["indicator: inspections"] == 1.0

    # a street's own scheme: two indicators, its own grades
    put = world.client.put(
        "/api/v1/assessment/scheme",
        params={"street": "S1"},
        content=SMALL.encode(),
        headers={**world.auth("admin"), "Content-Type": "application/yaml"},
    )
    assert put.status_code == 200, put.text
    mine = world.get("/api/v1/assessment/scheme", "office_s1", street="S1").json()
    assert mine["source"] == "street" and mine["scheme"]["name"] == "two indicators"
    k1 = assessed(world, month)[0]
    assert k1["score"] == pytest.approx(100 * (0.5 + 3 * 36 / 45) / 4) and k1["grade"] == "A"
    assert [i["key"] for i in k1["indicators"]] == ["participation", "corrected_accuracy"]
    assert k1["scheme"] == "two indicators (street)"
    bad = world.client.put(
        "/api/v1/assessment/scheme",
        params={"street": "S1"},
        content=SMALL.replace("weight: 3", "weight: -3").encode(),
        headers=world.auth("admin"),
    )
    assert bad.status_code == 422 and "indicators.corrected_accuracy.weight" in bad.text
    assert (
        world.client.delete(
            "/api/v1/assessment/scheme", params={"street": "S1"}, headers=world.auth("admin")
        ).status_code
        == 204
    )
    assert world.get("/api/v1/assessment/scheme", "office_s1", street="S1").json()["source"] == (
        "default"
    )
    assert world.get("/api/v1/assessment/scheme", "office_s1", street="K1").status_code == 422
    assert world.get("/api/v1/assessment", "office_s1", place="K1", month=month).status_code == 422
    assert assessed(world, before)[0]["score"] == pytest.approx(previous)


def test_inspections_record_and_rectify(world: World) -> None:
    made = world.post(
        "/api/v1/inspections",
        "super_k1",
        json={
            "place": "K1",
            "day": "2026-11-12",
            "inspector": "Zhou Min",
            "kind": "undercover",
            "findings": "kitchen bin lid left open; tissues in the kitchen bin",
        },
    )
    assert made.status_code == 201, made.text
    found = made.json()
    assert found["rectified_on"] is None and found["place"] == "K1"
    listed = world.get(
        "/api/v1/inspections", "office_s1", place="S1", start="2026-11-01", end="2026-11-30"
    ).json()
    assert [i["id"] for i in listed] == [found["id"]]
    early = world.client.patch(
        f"/api/v1/inspections/{found['id']}",
        json={"rectified_on": "2026-11-01"},
        headers=world.auth("super_k1"),
    )
    assert early.status_code == 422  # before the inspection
    fixed = world.client.patch(
        f"/api/v1/inspections/{found['id']}",
        json={"rectified_on": "2026-11-14"},
        headers=world.auth("super_k1"),
    )
    assert fixed.status_code == 200 and fixed.json()["rectified_on"] == "2026-11-14"
    still_open = world.get(
        "/api/v1/inspections",
        "office_s1",
        place="S1",
        start="2026-11-01",
        end="2026-11-30",
        open_only="true",
    ).json()
    assert still_open == []
    elsewhere = world.post(
        "/api/v1/inspections",
        "super_k3",
        json={"place": "K1", "day": "2026-11-12", "inspector": "x", "kind": "guidance"},
    )
    assert elsewhere.status_code == 404  # not their jurisdiction
    street = world.post(
        "/api/v1/inspections",
        "office_s1",
        json={"place": "S1", "day": "2026-11-12", "inspector": "x", "kind": "guidance"},
    )
    assert street.status_code == 422  # a compound or a station
    unknown = world.post(
        "/api/v1/inspections",
        "office_s1",
        json={"place": "K1", "day": "2026-11-12", "inspector": "x", "kind": "party"},
    )
    assert unknown.status_code == 422
