"""Audit-corrected accuracy (pure): the accuracy rate with the model's mistakes taken out.

Accuracy (准确率) is correct ÷ scored drop-offs, where a drop-off is scored when its final verdict
(the standing review's, else the model's) is `correct` or `contaminated`. Reviewed drop-offs count
by their review. The unreviewed ones count by the model's verdict, corrected by how often the
model is wrong about such drop-offs:

    miss rate  m = P(truly contaminated | model said correct)
    false flag f = P(truly correct      | model said contaminated)

Both come from **random samples drawn at ingest**, never from whichever drop-offs a supervisor
happened to open: the audit sample of model-`correct` drop-offs (drawn on the device at the share
the service sets) for `m`, and the flag sample of model-`contaminated` drop-offs (drawn by the
service) for `f`. Each sampled drop-off records the share `s` in force when it was drawn, so a
station sampled at 10 % does not outweigh one sampled at 2 %. Only sampled drop-offs that a
supervisor has decided (confirm or overturn; `unclear` says nothing) enter the estimate.

Point estimate (a plain, weighted proportion; Hájek), with weights w = 1/s over the decided
members of the sample and y = 1 when the model was wrong:

    r̂ = Σ w·y / Σ w
    T̂ = R_correct + U_c·(1 − m̂) + U_x·f̂          accuracy = T̂ / scored

where R_correct is the reviewed drop-offs found correct and U_c, U_x the unreviewed model-correct
and model-contaminated ones. With equal shares r̂ is the sample proportion; nothing is shrunk
toward ½, so with no misses in the audits the corrected accuracy equals the raw one.

Strata: rates are estimated per model version and bin category when that cell has at least
`min_cell` decided samples; the cells of a version below that are pooled into one rate for that
version, and if that pool is still below `min_cell` all thin cells of all versions are pooled.
Every sample belongs to exactly one pool, so the pools' estimates are independent. A pool with no
samples at all has no rate: the estimate is withheld with a reason (see below).

Interval (95 %): a normal interval around the point estimate whose variance uses Agresti–Coull
rates, so that a rate seen as 0 in a small sample still carries its uncertainty. With the Kish
effective size n* = (Σw)² / Σw² of each pool, r̃ = (r̂·n* + 2) / (n* + 4) and

    Var(T̂ − T) = Σ_pools U_pool²·r̃(1 − r̃)/(n* + 4)     (the rate's own uncertainty)
               + Σ_pools U_pool ·r̃(1 − r̃)              (the unreviewed drop-offs' own draw)

(U_pool: the unreviewed drop-offs the pool's rate applies to); the interval is T̂/scored ±
1.96·√Var/scored, cut to what is possible (every unreviewed drop-off right, or every one wrong).
Against the simulated street (`python -m bench.truth`) it covers the true accuracy in about 97 % of
compound-months; centring it on the Agresti–Coull rates instead covered only 84 %.

Withheld ("not enough audits (n)"): fewer than `min_audits` decided audit samples in the place and
period, or unreviewed flagged drop-offs while fewer than `min_flags` flag samples are decided.
Then `accuracy`, `low` and `high` are None and `reason` says why; no number is ever invented.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

Z95 = 1.959963984540054
POOLED = "*"


@dataclass(frozen=True)
class Sample:
    """The decided members of a random review sample: their count and weight sums (w = 1/share);
    a hit is a drop-off the model got wrong."""

    n: int = 0
    weight: float = 0.0
    weight_sq: float = 0.0
    hit_weight: float = 0.0

    @classmethod
    def of(cls, members: Iterable[tuple[float | None, bool]]) -> Sample:
        """From (share, hit) pairs; a share of None (drawn before shares were recorded) weighs 1."""
        total = cls()
        for share, hit in members:
            total = total + cls.one(share, hit)
        return total

    @classmethod
    def one(cls, share: float | None, hit: bool, count: int = 1) -> Sample:
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"a sampling share must be in (0, 1], got {share}")
        w = 1.0 if share is None else 1.0 / share
        return cls(count, count * w, count * w * w, count * w if hit else 0.0)

    def __add__(self, other: Sample) -> Sample:
        return Sample(
            self.n + other.n,
            self.weight + other.weight,
            self.weight_sq + other.weight_sq,
            self.hit_weight + other.hit_weight,
        )

    @property
    def rate(self) -> float | None:
        """The weighted proportion of hits (Hájek); None without samples."""
        return self.hit_weight / self.weight if self.weight > 0 else None

    @property
    def effective_n(self) -> float:
        return self.weight**2 / self.weight_sq if self.weight_sq > 0 else 0.0

    def adjusted(self) -> tuple[float, float]:
        """Agresti–Coull centre and variance of the rate (for the interval only)."""
        n = self.effective_n
        centre = ((self.rate or 0.0) * n + 2) / (n + 4)
        return centre, centre * (1 - centre) / (n + 4)


@dataclass(frozen=True)
class Stratum:
    """Scored drop-offs of one model version and bin category in a place and period."""

    model_version: str
    category: str
    reviewed_correct: int = 0  # decided by a review: found correct
    reviewed_contaminated: int = 0  # ... found contaminated
    unreviewed_correct: int = 0  # no decision: the model said correct
    unreviewed_contaminated: int = 0  # ... the model said contaminated
    audit: Sample = field(default_factory=Sample)  # decided audit samples; hit = contaminated
    flags: Sample = field(default_factory=Sample)  # decided flag samples; hit = correct

    def __post_init__(self) -> None:
        counts = (
            self.reviewed_correct,
            self.reviewed_contaminated,
            self.unreviewed_correct,
            self.unreviewed_contaminated,
        )
        if min(counts) < 0:
            raise ValueError(f"negative count in stratum {self.model_version}/{self.category}")

    @property
    def scored(self) -> int:
        return (
            self.reviewed_correct
            + self.reviewed_contaminated
            + self.unreviewed_correct
            + self.unreviewed_contaminated
        )


@dataclass(frozen=True)
class Corrected:
    accuracy: float | None
    low: float | None
    high: float | None
    miss_rate: float | None
    false_flag_rate: float | None
    audited: int
    flags_reviewed: int
    scored: int
    reason: str | None = None  # why accuracy is None
    audits_needed: int = 0  # decided audits still missing to reach the minimum


@dataclass(frozen=True)
class Rules:
    min_audits: int = 30  # decided audit samples in the place and period
    min_flags: int = 10  # decided flag samples, when unreviewed flags are left
    min_cell: int = 30  # decided samples for a (model version, category) cell of its own


CellKey = tuple[str, str]


def pools(cells: dict[CellKey, Sample], min_cell: int) -> dict[CellKey, CellKey]:
    """Which pool each (version, category) cell takes its rate from (see the module docstring)."""
    out: dict[CellKey, CellKey] = {}
    thin: dict[str, list[CellKey]] = defaultdict(list)
    for key, sample in cells.items():
        if sample.n >= min_cell:
            out[key] = key
        else:
            thin[key[0]].append(key)
    leftover: list[CellKey] = []
    for version, keys in thin.items():
        if sum(cells[k].n for k in keys) >= min_cell:
            out.update({k: (version, POOLED) for k in keys})
        else:
            leftover.extend(keys)
    out.update({k: (POOLED, POOLED) for k in leftover})
    return out


@dataclass
class _Part:
    """One error rate's contribution: the unreviewed drop-offs each pool's rate applies to."""

    point: float = 0.0  # expected model mistakes among the unreviewed, at the point rates
    variance: float = 0.0
    missing: bool = False  # unreviewed drop-offs with no rate to apply
    rate: float | None = None  # the overall rate (all pools together)


def _part(
    strata: Sequence[Stratum],
    sample_of: Callable[[Stratum], Sample],
    unreviewed_of: Callable[[Stratum], int],
    min_cell: int,
) -> _Part:
    cells: dict[CellKey, Sample] = defaultdict(Sample)
    unreviewed: dict[CellKey, int] = defaultdict(int)
    for s in strata:
        key = (s.model_version, s.category)
        cells[key] = cells[key] + sample_of(s)
        unreviewed[key] += unreviewed_of(s)
    pool_of = pools(dict(cells), min_cell)
    pooled: dict[CellKey, Sample] = defaultdict(Sample)
    applied: dict[CellKey, int] = defaultdict(int)
    for key, pool in pool_of.items():
        pooled[pool] = pooled[pool] + cells[key]
        applied[pool] += unreviewed[key]
    part = _Part(rate=sum(cells.values(), Sample()).rate)
    for pool, n_unreviewed in applied.items():
        sample = pooled[pool]
        if n_unreviewed == 0:
            continue
        if sample.rate is None:
            part.missing = True
            continue
        centre, variance = sample.adjusted()
        part.point += n_unreviewed * sample.rate
        part.variance += n_unreviewed**2 * variance + n_unreviewed * centre * (1 - centre)
    return part


def corrected_accuracy(strata: Sequence[Stratum], rules: Rules | None = None) -> Corrected:
    """The audit-corrected accuracy of the drop-offs in `strata` (see the module docstring)."""
    rules = rules or Rules()
    audited = sum(s.audit.n for s in strata)
    flags_reviewed = sum(s.flags.n for s in strata)
    scored = sum(s.scored for s in strata)
    misses = _part(strata, lambda s: s.audit, lambda s: s.unreviewed_correct, rules.min_cell)
    false_flags = _part(
        strata, lambda s: s.flags, lambda s: s.unreviewed_contaminated, rules.min_cell
    )
    withheld = Corrected(
        None,
        None,
        None,
        misses.rate,
        false_flags.rate,
        audited,
        flags_reviewed,
        scored,
        audits_needed=max(0, rules.min_audits - audited),
    )
    if scored == 0:
        return replace(withheld, reason="no scored drop-offs")
    if audited < rules.min_audits or misses.missing:
        return replace(withheld, reason=f"not enough audits ({audited})")
    unreviewed_flags = sum(s.unreviewed_contaminated for s in strata)
    if unreviewed_flags and (flags_reviewed < rules.min_flags or false_flags.missing):
        return replace(withheld, reason=f"not enough reviewed flag samples ({flags_reviewed})")
    reviewed_correct = sum(s.reviewed_correct for s in strata)
    unreviewed_correct = sum(s.unreviewed_correct for s in strata)
    lowest = reviewed_correct / scored
    highest = (reviewed_correct + unreviewed_correct + unreviewed_flags) / scored
    base = reviewed_correct + unreviewed_correct
    accuracy = (base - misses.point + false_flags.point) / scored
    spread = Z95 * math.sqrt(misses.variance + false_flags.variance) / scored
    low = max(lowest, accuracy - spread)
    high = min(highest, accuracy + spread)
    return replace(withheld, accuracy=accuracy, low=low, high=high)
