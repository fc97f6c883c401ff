"""Counters stay a recount of the raw rows, whatever happens in whatever order.

A hypothesis state machine drives a real service (SQLite in a temporary folder) through its API:
ingest (duplicates included, households dropping off at another compound's station), claims,
decisions, undo, appeals and their second review, supersede, and a rollup rebuild. After every
step every rollup and household-day counter equals a recount from the events, each household
counts for its own compound only, and no compound's participation exceeds 100 %.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import select

from api.app import create_app
from api.db.migrate import upgrade
from api.db.models import Household, HouseholdDay
from api.rollups import rebuild
from api.security import appeal_code
from api.settings import Settings
from tests.api.test_review import add_user, recount, state
from tests.api.world import World, build_world, event, local

# bins (station's compound): ST1 → K1, ST2 → K2, ST3 → K3
BINS = {"B1": "kitchen", "B2": "recyclable", "B5": "kitchen", "B7": "kitchen"}
DEVICE = {"B1": "cam-ST1", "B2": "cam-ST1", "B5": "cam-ST2", "B7": "cam-ST3"}
HOUSEHOLDS = ("H1", "H2", "H4", "H5", "H6", "H7", None)  # H5 unregistered; H6 is K2's, H7 K3's
REVIEWERS = ("super_k1", "super_k1b", "super_k3", "admin")
AUDIT = {"sha256": "0" * 64, "bytes": 10, "width": 4, "height": 4, "reason": "audit"}
FLAGGED = {**AUDIT, "reason": "flagged"}
UNSURE = {**AUDIT, "reason": "uncertain"}
ACCEPTED = {200, 201, 404, 409}  # 404: an item outside the reviewer's jurisdiction


class CountersMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="binwatch-state-"))
        config = Settings(
            data_dir=self.folder / "data",
            database_url=f"sqlite:///{self.folder / 'binwatch.db'}",
            audit_share=0.5,
        )
        app = create_app(config)
        upgrade(app.state.engine)
        self.client = TestClient(app)
        self.client.__enter__()
        self.world: World = build_world(self.client, config)
        add_user(self.world, "super_k1b", scope=("K1",))
        self.sent: list[Any] = []  # events sent, to resend and to appeal
        self.decided: list[tuple[int, str]] = []  # (item, reviewer) of accepted decisions

    @initialize()
    def first_events(self) -> None:
        self._send(event("B1", "kitchen", "other", verdict="contaminated", household="H1"))

    def _send(self, made: Any) -> None:
        response = self.world.send(DEVICE[made.bin_id], [made])
        assert response.status_code == 200, response.text
        self.sent.append(made)

    @rule(
        bin_code=st.sampled_from(sorted(BINS)),
        verdict=st.sampled_from(["correct", "correct", "audit", "contaminated", "uncertain"]),
        household=st.sampled_from(HOUSEHOLDS),
        day=st.integers(9, 11),
        hour=st.integers(7, 21),
    )
    def ingest(
        self, bin_code: str, verdict: str, household: str | None, day: int, hour: int
    ) -> None:
        category = BINS[bin_code]
        at = local(day, hour)
        if verdict == "audit":
            made = event(
                bin_code, category, household=household, at=at, evidence=AUDIT, audit_share=0.5
            )
        elif verdict == "contaminated":
            made = event(
                bin_code,
                category,
                "hazardous",
                verdict="contaminated",
                household=household,
                at=at,
                evidence=FLAGGED,
            )
        elif verdict == "uncertain":
            made = event(
                bin_code, category, verdict="uncertain", household=household, at=at, evidence=UNSURE
            )
        else:
            made = event(bin_code, category, household=household, at=at)
        self._send(made)

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        """A device retrying a batch: stored once."""
        again = data.draw(st.sampled_from(self.sent))
        response = self.world.send(DEVICE[again.bin_id], [again])
        assert response.status_code == 200
        assert response.json()["results"][0]["status"] == "duplicate"

    def _open_items(self) -> list[dict[str, Any]]:
        response = self.world.get("/api/v1/review/queue", "admin", limit="500")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()
        return items

    @rule(
        data=st.data(),
        who=st.sampled_from(REVIEWERS),
        decision=st.sampled_from(["confirm", "overturn", "unclear"]),
        claim_first=st.booleans(),
    )
    def decide(self, data: st.DataObject, who: str, decision: str, claim_first: bool) -> None:
        items = self._open_items()
        if not items:
            return
        item = data.draw(st.sampled_from([i["id"] for i in items]))
        if claim_first:
            claimed = self.world.post(f"/api/v1/review/items/{item}/claim", who)
            assert claimed.status_code in ACCEPTED, claimed.text
        response = self.world.post(
            f"/api/v1/review/items/{item}/decision", who, json={"decision": decision}
        )
        assert response.status_code in ACCEPTED | {422}, response.text
        if response.status_code == 201:
            self.decided.append((item, who))

    @precondition(lambda self: bool(self.decided))
    @rule(data=st.data(), own=st.booleans())
    def undo(self, data: st.DataObject, own: bool) -> None:
        item, who = data.draw(st.sampled_from(self.decided))
        caller = who if own else data.draw(st.sampled_from(REVIEWERS))
        response = self.world.post(f"/api/v1/review/items/{item}/undo", caller)
        assert response.status_code in ACCEPTED, response.text

    @precondition(lambda self: bool(self.decided))
    @rule(data=st.data(), decision=st.sampled_from(["confirm", "overturn"]))
    def supersede(self, data: st.DataObject, decision: str) -> None:
        item, _ = data.draw(st.sampled_from(self.decided))
        response = self.world.post(
            f"/api/v1/review/items/{item}/supersede", "admin", json={"decision": decision}
        )
        assert response.status_code in ACCEPTED | {422}, response.text
        if response.status_code == 201:
            self.decided.append((item, "admin"))

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def appeal(self, data: st.DataObject) -> None:
        made = data.draw(st.sampled_from(self.sent))
        response = self.client.post(
            "/api/v1/public/appeals", json={"code": appeal_code(made.event_id), "text": "no"}
        )
        assert response.status_code in {201, 409}, response.text

    @rule()
    def rebuild_rollups(self) -> None:
        before = state(self.world)
        with self.client.app.state.sessions() as session:  # type: ignore[attr-defined]
            rebuild(session)
            session.commit()
        assert state(self.world) == before

    @invariant()
    def counters_are_a_recount(self) -> None:
        now = state(self.world)
        assert {k: v for k, v in now.items() if k != "events"} == recount(self.world)

    @invariant()
    def households_count_for_their_own_compound(self) -> None:
        with self.client.app.state.sessions() as session:  # type: ignore[attr-defined]
            own = dict(session.execute(select(Household.id, Household.compound_id)).all())
            for row in session.scalars(select(HouseholdDay)):
                assert own[row.household_id] == row.compound_id
        for compound in ("K1", "K2", "K3"):
            summary = self.world.get(
                "/api/v1/stats/summary",
                "admin",
                place=compound,
                start="2026-11-09",
                end="2026-11-11",
            ).json()
            part = summary["participation"]
            assert part is None or 0.0 <= part <= 1.0, summary
            assert summary["participating_households"] <= summary["registered_households"]

    def teardown(self) -> None:
        self.client.__exit__(None, None, None)
        self.client.app.state.engine.dispose()  # type: ignore[attr-defined]
        shutil.rmtree(self.folder, ignore_errors=True)


CountersMachine.TestCase.settings = settings(
    max_examples=8,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_counters_stay_a_recount = CountersMachine.TestCase
