"""Audit-corrected accuracy (pure).

Supervisors review a random sample of the events the model called `correct` (the audit) and
the events it flagged. From those reviews come two error rates of the model:
`miss` — the share of model-`correct` drop-offs that were in fact contaminated — and
`false_flag` — the share of model-`contaminated` drop-offs that were in fact correct. Reviewed
drop-offs count as reviewed; each unreviewed one counts by the model's verdict, corrected by the
error rate of that verdict. The 95 % interval comes from the two rates' binomial uncertainty
(Agresti–Coull: two successes and two failures added, so a small or empty sample gives a wide
interval rather than a false certainty).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class ReviewedCounts:
    """What reviews say about the model's verdicts in a place and period."""

    audited: int  # model said correct, a supervisor reviewed it
    audited_contaminated: int  # ... and found it contaminated
    flagged_reviewed: int  # model said contaminated, a supervisor reviewed it
    flagged_overturned: int  # ... and found it correct


@dataclass(frozen=True)
class Corrected:
    accuracy: float | None
    low: float | None
    high: float | None
    miss_rate: float
    false_flag_rate: float


def _rate(hits: int, n: int) -> tuple[float, float]:
    """Agresti–Coull point estimate and its variance."""
    if hits < 0 or n < 0 or hits > n:
        raise ValueError(f"need 0 <= hits <= n, got hits={hits}, n={n}")
    p = (hits + 2) / (n + 4)
    return p, p * (1 - p) / (n + 4)


def corrected_accuracy(
    reviewed_correct: int,
    reviewed_contaminated: int,
    unreviewed_correct: int,
    unreviewed_contaminated: int,
    reviews: ReviewedCounts,
) -> Corrected:
    miss, miss_var = _rate(reviews.audited_contaminated, reviews.audited)
    false_flag, false_flag_var = _rate(reviews.flagged_overturned, reviews.flagged_reviewed)
    scored = reviewed_correct + reviewed_contaminated + unreviewed_correct + unreviewed_contaminated
    if scored == 0:
        return Corrected(None, None, None, miss, false_flag)
    expected_correct = (
        reviewed_correct + unreviewed_correct * (1 - miss) + unreviewed_contaminated * false_flag
    )
    accuracy = expected_correct / scored
    spread = (
        math.sqrt(unreviewed_correct**2 * miss_var + unreviewed_contaminated**2 * false_flag_var)
        / scored
    )
    return Corrected(
        accuracy=accuracy,
        low=max(0.0, accuracy - Z95 * spread),
        high=min(1.0, accuracy + Z95 * spread),
        miss_rate=miss,
        false_flag_rate=false_flag,
    )
