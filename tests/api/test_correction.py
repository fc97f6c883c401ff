"""The audit-corrected accuracy (pure): withheld without audits, a plain proportion with them,
weighted by the sampling share, and honest against a simulated street with a known truth."""

from __future__ import annotations

import pytest

from api.stats.correction import Rules, Sample, Stratum, corrected_accuracy, pools
from bench.truth import run

RULES = Rules(min_audits=30, min_flags=10, min_cell=30)


def stratum(**counts: object) -> Stratum:
    return Stratum("v1", "kitchen", **counts)  # type: ignore[arg-type]


def test_no_audits_no_number() -> None:
    result = corrected_accuracy([stratum(unreviewed_correct=78, unreviewed_contaminated=22)], RULES)
    assert result.accuracy is None and result.low is None and result.high is None
    assert result.reason == "not enough audits (0)" and result.audits_needed == 30
    few = stratum(unreviewed_correct=78, audit=Sample.of([(0.05, False)] * 12))
    assert corrected_accuracy([few], RULES).reason == "not enough audits (12)"
    assert corrected_accuracy([], RULES).reason == "no scored drop-offs"


def test_unreviewed_flags_need_a_flag_sample() -> None:
    s = stratum(
        unreviewed_correct=70, unreviewed_contaminated=10, audit=Sample.of([(0.1, False)] * 40)
    )
    assert corrected_accuracy([s], RULES).reason == "not enough reviewed flag samples (0)"


def test_a_clean_audit_leaves_the_raw_accuracy() -> None:
    """No misses among the audits and every flag reviewed: nothing to correct, no shrinking."""
    s = stratum(
        reviewed_correct=40,
        reviewed_contaminated=20,
        unreviewed_correct=140,
        audit=Sample.of([(0.2, False)] * 40),
    )
    result = corrected_accuracy([s], RULES)
    assert result.accuracy == pytest.approx(180 / 200)
    assert result.accuracy is not None and result.low is not None and result.high is not None
    assert result.low < result.accuracy <= result.high <= 1.0
    assert result.miss_rate == 0.0


def test_point_estimate_is_the_weighted_proportion() -> None:
    """Audits from a station sampled at 10 % weigh half as much as those sampled at 5 %."""
    audits = Sample.of([(0.1, True)] * 10 + [(0.1, False)] * 30 + [(0.05, False)] * 20)
    assert audits.rate == pytest.approx((10 / 0.1) / (40 / 0.1 + 20 / 0.05))
    flags = Sample.of([(0.25, True)] * 3 + [(0.25, False)] * 9)
    s = stratum(
        reviewed_correct=50,
        reviewed_contaminated=10,
        unreviewed_correct=800,
        unreviewed_contaminated=100,
        audit=audits,
        flags=flags,
    )
    result = corrected_accuracy([s], RULES)
    assert audits.rate is not None
    expected = (50 + 800 * (1 - audits.rate) + 100 * 0.25) / 960
    assert result.accuracy == pytest.approx(expected)
    assert result.false_flag_rate == pytest.approx(0.25)


def test_thin_cells_pool_by_version_then_overall() -> None:
    cells = {
        ("v1", "kitchen"): Sample.of([(0.1, False)] * 35),
        ("v1", "other"): Sample.of([(0.1, False)] * 12),
        ("v1", "recyclable"): Sample.of([(0.1, False)] * 20),
        ("v2", "kitchen"): Sample.of([(0.1, False)] * 5),
    }
    assert pools(cells, 30) == {
        ("v1", "kitchen"): ("v1", "kitchen"),
        ("v1", "other"): ("v1", "*"),
        ("v1", "recyclable"): ("v1", "*"),
        ("v2", "kitchen"): ("*", "*"),
    }


def test_rates_come_from_the_pool_of_each_version() -> None:
    """A second model version with more misses: its unreviewed drop-offs take its own rate."""
    v1 = Stratum("v1", "kitchen", unreviewed_correct=500, audit=Sample.of([(0.1, False)] * 40))
    v2 = Stratum(
        "v2",
        "kitchen",
        unreviewed_correct=500,
        audit=Sample.of([(0.1, True)] * 10 + [(0.1, False)] * 30),
    )
    result = corrected_accuracy([v1, v2], RULES)
    assert result.accuracy == pytest.approx((500 + 500 * 0.75) / 1000)


def test_against_a_simulated_street() -> None:
    """A small run of bench/truth.py (the full 2,000-month run is in the README)."""
    report = run(months=300, seed=7)
    assert report["shown"] >= 150
    assert report["coverage"] >= 0.92
    assert abs(report["bias_points"]) <= 1.0
    assert report["raw_bias_points"] > 1.0  # the raw model accuracy does mislead
