"""A simulated street with a known truth, to prove the audit-corrected accuracy against it.

    .venv/bin/python -m bench.truth --months 2000 --seed 1 [--out bench/results/truth.json]

No images: each compound-month has households with known sorting habits, stations whose devices
draw the audit sample at their own (changing) share, one or two model versions with a known
confusion per bin category, a flag sample drawn at ingest, and supervisors who decide only part of
the queue (a backlog; a few decisions `unclear`). The truth is what DESIGN.md calls accuracy —
correct ÷ scored drop-offs — over the same drop-offs, with the true labels. For every
compound-month the pure estimator (api/stats/correction.py) gets what the service would know and
the report says how often its 95 % interval covers the truth and how biased its point is, beside
the raw (model) accuracy's bias.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from api.stats.correction import Corrected, Rules, Sample, Stratum, corrected_accuracy

log = logging.getLogger(__name__)
CATEGORIES = ("recyclable", "hazardous", "kitchen", "other")
# model verdict codes
CORRECT, CONTAMINATED, UNCERTAIN = 0, 1, 2


@dataclass(frozen=True)
class Month:
    """One compound-month's drop-offs (arrays of equal length) and what the service knows."""

    category: np.ndarray  # bin category index
    version: np.ndarray  # model version index
    truly_correct: np.ndarray  # bool
    model: np.ndarray  # CORRECT / CONTAMINATED / UNCERTAIN
    share: np.ndarray  # the sampling share in force (audit share or flag share); nan if none
    sampled: np.ndarray  # bool: in the audit sample (model correct) or flag sample (flagged)
    decided: np.ndarray  # bool: a supervisor confirmed or overturned it
    household: np.ndarray  # household index, -1 when not identified

    @property
    def final_correct(self) -> np.ndarray:
        return np.where(self.decided, self.truly_correct, self.model == CORRECT)

    @property
    def scored(self) -> np.ndarray:
        scored: np.ndarray = self.decided | (self.model != UNCERTAIN)
        return scored

    @property
    def truth(self) -> float | None:
        scored = self.scored
        return float(self.truly_correct[scored].mean()) if scored.any() else None

    @property
    def raw(self) -> float | None:
        scored = self.scored
        return float(self.final_correct[scored].mean()) if scored.any() else None


def simulate_month(rng: np.random.Generator, dropoffs: tuple[int, int] = (600, 6000)) -> Month:
    n = int(rng.integers(*dropoffs))
    households = max(20, n // int(rng.integers(8, 25)))
    mean = rng.uniform(0.55, 0.95)
    habit = rng.beta(mean * 8, (1 - mean) * 8, households)
    household = rng.integers(0, households, n)
    category = rng.choice(4, n, p=rng.dirichlet(np.full(4, 3.0)))
    truly_correct = rng.random(n) < np.clip(
        habit[household] + rng.normal(0, 0.05, 4)[category], 0, 1
    )
    # one model version, or a second one from some day on; each with its own confusion per bin
    switch = rng.random() < 0.4
    version = (np.arange(n) >= rng.integers(n // 5, n)).astype(int) if switch else np.zeros(n, int)
    flag_correct = rng.uniform(0.01, 0.15, (2, 4))  # P(flag | truly correct)
    miss = rng.uniform(0.05, 0.40, (2, 4))  # P(model correct | truly contaminated)
    unsure = rng.uniform(0.01, 0.10, (2, 4))
    u = rng.random(n)
    p_unsure = unsure[version, category]
    p_wrong = np.where(truly_correct, flag_correct[version, category], miss[version, category])
    model = np.where(
        u < p_unsure,
        UNCERTAIN,
        np.where(u < p_unsure + p_wrong, np.where(truly_correct, CONTAMINATED, CORRECT), -1),
    )
    model = np.where(model == -1, np.where(truly_correct, CORRECT, CONTAMINATED), model)
    # stations sample audits at their own share, which the service changes mid-month
    stations = int(rng.integers(1, 4))
    station = rng.integers(0, stations, n)
    shares = rng.choice([0.02, 0.05, 0.1, 0.2], (2, stations))
    half = (np.arange(n) >= n // 2).astype(int)
    audit_share = shares[half, station]
    flag_share = rng.choice([0.1, 0.25, 0.5])
    share = np.where(
        model == CORRECT, audit_share, np.where(model == CONTAMINATED, flag_share, np.nan)
    )
    sampled = (model != UNCERTAIN) & (rng.random(n) < np.nan_to_num(share))
    # supervisors: a backlog, served in order (so what is left undecided does not depend on truth)
    queued = sampled | (model != CORRECT)
    backlog = rng.uniform(0.2, 1.0)
    reviewed = queued & (np.arange(n) < int(n * backlog))
    reviewed &= rng.random(n) < np.where(sampled, 0.95, rng.uniform(0.3, 1.0))
    decided = reviewed & (rng.random(n) >= 0.03)  # 3 % `unclear`
    identified = rng.random(n) < 0.8
    return Month(
        category=category,
        version=version,
        truly_correct=truly_correct,
        model=model,
        share=np.where(sampled, share, np.nan),
        sampled=sampled,
        decided=decided,
        household=np.where(identified, household, -1),
    )


def strata(month: Month) -> list[Stratum]:
    """What the service knows of a month, in the estimator's terms."""
    out = []
    for v in np.unique(month.version):
        for c in range(4):
            m = (month.version == v) & (month.category == c)
            if not m.any():
                continue
            d, model, truth = month.decided[m], month.model[m], month.truly_correct[m]
            share, sampled = month.share[m], month.sampled[m]
            audit = d & sampled & (model == CORRECT)
            flags = d & sampled & (model == CONTAMINATED)
            out.append(
                Stratum(
                    model_version=f"v{v}",
                    category=CATEGORIES[c],
                    reviewed_correct=int((d & truth).sum()),
                    reviewed_contaminated=int((d & ~truth).sum()),
                    unreviewed_correct=int((~d & (model == CORRECT)).sum()),
                    unreviewed_contaminated=int((~d & (model == CONTAMINATED)).sum()),
                    audit=_sample(share[audit], ~truth[audit]),
                    flags=_sample(share[flags], truth[flags]),
                )
            )
    return out


def _sample(shares: np.ndarray, hits: np.ndarray) -> Sample:
    weights = 1.0 / shares
    return Sample(
        n=len(shares),
        weight=float(weights.sum()),
        weight_sq=float((weights**2).sum()),
        hit_weight=float(weights[hits].sum()),
    )


def run(months: int, seed: int, rules: Rules | None = None) -> dict[str, Any]:
    rules = rules or Rules()
    rng = np.random.default_rng(seed)
    covered, errors, raw_errors, widths = [], [], [], []
    withheld = 0
    for _ in range(months):
        month = simulate_month(rng)
        truth, raw = month.truth, month.raw
        result: Corrected = corrected_accuracy(strata(month), rules)
        if truth is None or raw is None:
            continue
        raw_errors.append(raw - truth)
        if result.accuracy is None or result.low is None or result.high is None:
            withheld += 1
            continue
        covered.append(result.low <= truth <= result.high)
        errors.append(result.accuracy - truth)
        widths.append(result.high - result.low)
    shown = len(covered)
    return {
        "months": months,
        "seed": seed,
        "shown": shown,
        "withheld": withheld,
        "coverage": sum(covered) / shown if shown else None,
        "bias_points": 100 * statistics.fmean(errors) if errors else None,
        "mean_abs_error_points": 100 * statistics.fmean(abs(e) for e in errors) if errors else None,
        "raw_bias_points": 100 * statistics.fmean(raw_errors),
        "raw_mean_abs_error_points": 100 * statistics.fmean(abs(e) for e in raw_errors),
        "median_interval_width_points": 100 * statistics.median(widths) if widths else None,
        "rules": vars(rules),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = run(args.months, args.seed)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
