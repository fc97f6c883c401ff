"""A simulated street with a known truth, end to end: 12 compound-months of drop-offs go through
the real ingest (audit samples drawn at the devices' changing shares, the flag sample drawn at
ingest), supervisors decide part of the queue through the review API (a backlog, some
`unclear`), and `/stats/summary` must report exactly what the pure estimator gives on the same
reviewed counts, which this test keeps itself. On SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.ingest import sampled
from api.stats.correction import Sample, Stratum, corrected_accuracy
from tests.api.test_review import add_user
from tests.api.world import BINS, World, event

MONTHS = range(5, 11)  # May to October 2026, in each of two compounds
COMPOUNDS = {"K1": ("cam-ST1", ("B1", "B2", "B3", "B4")), "K2": ("cam-ST2", ("B5", "B6"))}
SIZE = {"K1": 200, "K2": 80}  # drop-offs a month: K2's are thin, so some of its months are withheld
SUPERVISOR = {"K1": "super_k1", "K2": "super_k2"}
OTHER = {"kitchen": "hazardous", "recyclable": "kitchen", "hazardous": "other", "other": "kitchen"}
FLAG_SHARE = 0.6


@dataclass
class Dropoff:
    made: Any  # the DropoffEvent sent
    version: str
    category: str  # the bin's
    model: str  # the model's verdict
    truly_correct: bool
    audit_share: float | None  # kept for audit at this share
    flag_sample: bool
    decided: bool = False  # a confirm or overturn stands

    @property
    def final(self) -> str:
        if self.decided:
            return "correct" if self.truly_correct else "contaminated"
        return self.model


def simulate(rng: random.Random, compound: str, month: int) -> list[Dropoff]:
    device, bins = COMPOUNDS[compound]
    habit = rng.uniform(0.6, 0.92)
    miss = rng.uniform(0.1, 0.35)  # P(model says correct | truly contaminated)
    false_flag = rng.uniform(0.03, 0.12)
    audit_share = rng.choice([0.3, 0.5, 0.7])  # the service's share, changed mid-month
    made = []
    for n in range(SIZE[compound]):
        bin_code = rng.choice(bins)
        category = BINS[bin_code][1]
        truly = rng.random() < habit
        u = rng.random()
        if u < 0.05:
            model = "uncertain"
        elif truly:
            model = "contaminated" if u < 0.05 + false_flag else "correct"
        else:
            model = "correct" if u < 0.05 + miss else "contaminated"
        version = "lite0-waste-1.0" if n < 0.6 * SIZE[compound] or month < 6 else "lite0-waste-1.1"
        share = audit_share if n < SIZE[compound] // 2 else min(0.9, audit_share + 0.2)
        at = datetime(2026, month, 1 + n % 27, 3, tzinfo=UTC) + timedelta(minutes=n)
        reason = {"contaminated": "flagged", "uncertain": "uncertain"}.get(model)
        audit = model == "correct" and rng.random() < share
        if audit:
            reason = "audit"
        evidence = (
            {"sha256": "0" * 64, "bytes": 10, "width": 4, "height": 4, "reason": reason}
            if reason
            else None
        )
        items = (category,) if model != "contaminated" else (category, OTHER[category])
        sent = event(
            bin_code,
            *items,
            verdict=model,
            at=at,
            evidence=evidence,
            model_version=version,
            audit_share=share if audit else None,
            event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),  # the flag sample's draw
        )
        made.append(
            Dropoff(
                sent,
                version,
                category,
                model,
                truly,
                share if audit else None,
                model == "contaminated" and sampled(sent.event_id, FLAG_SHARE),
            )
        )
    assert made[0].made.device_id == device
    return made


def review(world: World, rng: random.Random, compound: str, month: list[Dropoff]) -> None:
    """The compound's supervisor decides about 80 % of this month's queue; 4 % of those
    `unclear`. The rest waits (a backlog)."""
    who = SUPERVISOR[compound]
    mine = {str(d.made.event_id): d for d in month}
    queue = world.get("/api/v1/review/queue", who, place=compound, limit="500").json()
    for item in queue:
        dropoff = mine.get(item["event"]["event_id"])
        if dropoff is None or rng.random() >= 0.8:
            continue
        if rng.random() < 0.04:
            body: dict[str, Any] = {"decision": "unclear"}
        elif dropoff.model == "uncertain":
            truth = [dropoff.category] + (
                [] if dropoff.truly_correct else [OTHER[dropoff.category]]
            )
            body = {"decision": "confirm", "true_categories": truth}
        else:
            agrees = (dropoff.model == "correct") == dropoff.truly_correct
            body = {"decision": "confirm" if agrees else "overturn"}
        made = world.post(f"/api/v1/review/items/{item['id']}/decision", who, json=body)
        assert made.status_code == 201, made.text
        dropoff.decided = body["decision"] != "unclear"


def strata(month: list[Dropoff]) -> list[Stratum]:
    """What the service should know, from this test's own record of the month."""
    cells: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"counts": defaultdict(int), "audit": Sample(), "flags": Sample()}
    )
    for d in month:
        if d.final not in ("correct", "contaminated"):
            continue
        cell = cells[(d.version, d.category)]
        cell["counts"][f"{'reviewed' if d.decided else 'unreviewed'}_{d.final}"] += 1
        if d.decided and d.audit_share is not None:
            w = 1 / d.audit_share
            cell["audit"] += Sample(1, w, w * w, w if not d.truly_correct else 0.0)
        if d.decided and d.flag_sample:
            w = 1 / FLAG_SHARE
            cell["flags"] += Sample(1, w, w * w, w if d.truly_correct else 0.0)
    return [
        Stratum(version, category, **cell["counts"], audit=cell["audit"], flags=cell["flags"])
        for (version, category), cell in sorted(cells.items())
    ]


def test_the_api_reports_the_pure_estimate(world: World) -> None:
    world.settings.flag_sample_share = FLAG_SHARE
    add_user(world, "super_k2", scope=("K2",))
    rng = random.Random(7)
    shown = 0
    for month in MONTHS:
        for compound, (device, _) in COMPOUNDS.items():
            dropoffs = simulate(rng, compound, month)
            sent = world.send(device, [d.made for d in dropoffs])
            assert sent.status_code == 200
            assert {r["status"] for r in sent.json()["results"]} == {"stored"}
            review(world, rng, compound, dropoffs)
            last = (datetime(2026, month + 1, 1) - timedelta(days=1)).day
            period = {"start": f"2026-{month:02d}-01", "end": f"2026-{month:02d}-{last}"}
            got = world.get("/api/v1/stats/summary", "admin", place=compound, **period).json()
            totals = got["totals"]
            scored = [d for d in dropoffs if d.final in ("correct", "contaminated")]
            assert totals["scored"] == len(scored)
            assert totals["correct"] == sum(d.final == "correct" for d in scored)
            expected = corrected_accuracy(strata(dropoffs), world.settings.correction_rules)
            corrected = totals["corrected"]
            assert corrected["audited"] == expected.audited
            assert corrected["flags_reviewed"] == expected.flags_reviewed
            assert corrected["reason"] == expected.reason
            for key in ("accuracy", "low", "high", "miss_rate", "false_flag_rate"):
                value = getattr(expected, key)
                assert corrected[key] == (None if value is None else pytest.approx(value)), key
            shown += expected.accuracy is not None
    # both paths are taken: most months show a number, the thin ones are withheld with a reason
    assert len(MONTHS) // 2 <= shown < len(MONTHS) * len(COMPOUNDS), shown
