"""`bench/review.py` measures what it says, briefly: a supervisor's queue of a few hundred items
on SQLite, opened and decided over HTTP against `binwatch serve`, twice; every timed decision
took an item off the queue (the real figures are in the README)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from api.db.engine import make_engine, make_sessionmaker
from api.db.models import QueueItem
from api.settings import Settings
from bench.review import measure, seed, summarize


def test_the_review_bench_decides_what_it_times(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    seed(settings, 300)
    runs = [measure(settings, rounds=4) for _ in range(2)]
    result = summarize(runs)
    for part in ("open_page", "decision"):
        low, high = result[part]["p95_range"]
        assert 0 < low <= result[part]["p95_ms"] <= high
        assert result[part]["p50_ms"] <= result[part]["max_ms"]
    engine = make_engine(settings)
    with make_sessionmaker(engine)() as session:
        decided = session.scalar(
            select(func.count()).select_from(QueueItem).where(QueueItem.status == "decided")
        )
    engine.dispose()
    assert decided == 2 * (4 + 3)  # every round and warm-up decided one item
