"""Choose verdict thresholds on the validation split, and count what they do. Pure: numpy and
the verdict rule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vision.metadata import Thresholds
from vision.taxonomy import Category
from vision.verdict import ItemJudgement, VerdictKind, judge_item

# 0.51 to 0.99 by hundredths, then to 0.999 by thousandths: at a low contamination rate the
# flag threshold can need more than 0.99
GRID = np.round(np.concatenate([np.arange(0.51, 0.985, 0.01), np.arange(0.99, 0.9995, 0.001)]), 3)
# the contamination rate `binwatch export` and `binwatch retrain` choose flags at: a tenth of
# drops wrong (at three in four, as every item dropped into every bin counts them, a model that
# flags 5 % of right drops still reaches 98 % precision; at a tenth, 69 %: models/README.md)
CONTAMINATION_RATE = 0.1
# the categories whose flags are worth a threshold of their own, lower than the rest's: a battery
# in the wrong bin is worth flagging at a probability a bottle is not (`lower_flag_thresholds`)
LOWERED = (Category.HAZARDOUS,)
# a lowered category's own flags must reach this precision in every view, not only pooled
LOWERED_PRECISION = 0.99
# and its threshold is kept this far above the lowest the val views allow: the field's crops
# give a wrong category a higher probability than val's (models/README.md, lite0-waste-2.12)
LOWERED_MARGIN = 0.03
# where a lowered category's threshold is looked for: below the shared one, down to 0.3
LOWERED_GRID = np.round(np.arange(0.98, 0.295, -0.01), 2)
# `--lower-flags` (binwatch export, binwatch retrain, train.thresholds_cli)
LOWER_FLAGS_HELP = (
    "categories whose flags get a threshold of their own, as low as every field-like val view "
    "keeps that category's flags 99 %% precise at the contamination rate, plus a margin of "
    "0.03 (comma-separated; none: one threshold for every category, as before lite0-waste-2.12)"
)


def choose_thresholds(
    category_probs: np.ndarray,
    truth: np.ndarray,
    flag_precision: float = 0.97,
    correct_precision: float = 0.995,
    contamination_rate: float | None = None,
    lowered: Sequence[Category] = (),
    views: int = 1,
) -> Thresholds:
    """Every image is dropped into every bin. `contaminated` is the lowest threshold whose flags
    reach `flag_precision`; `correct` the lowest whose `correct` calls reach
    `correct_precision`. Lower thresholds flag more, so the lowest that is precise enough is
    the one with the best recall.

    `contamination_rate`: the flags' precision is counted as if that share of drops were wrong
    (each item's wrong bins sharing its wrong drops equally), not three in four as the drops
    into every bin are; a station where few drops are wrong needs a higher threshold for the
    same precision. `correct` is always counted at three wrong drops in four, so that calling
    a wrong drop correct stays as rare as it was (a missed flag is not reviewed).

    `lowered` (at a contamination rate only): categories given a flag threshold of their own
    below `contaminated` where every one of the `views` (equal blocks of rows) allows it
    (`lower_flag_thresholds`)."""
    n, bins = category_probs.shape
    belongs = category_probs.reshape(n, bins)  # P(item belongs in bin b) = p[item, b]
    wrong = truth[:, None] != np.arange(bins)[None, :]
    weight = None if contamination_rate is None else at_rate(wrong, contamination_rate)
    contaminated = _lowest(1 - belongs, wrong, flag_precision, weight)
    correct = _lowest(belongs, ~wrong, correct_precision)
    chosen = Thresholds(correct=correct, contaminated=contaminated)
    if contamination_rate is None or not lowered:
        return chosen
    return lower_flag_thresholds(category_probs, truth, chosen, contamination_rate, lowered, views)


def at_rate(wrong: np.ndarray, rate: float) -> np.ndarray:
    """Weights that make the wrong drops `rate` of all drops, and the right ones the rest."""
    if not 0 < rate < 1:
        raise ValueError(f"a contamination rate is between 0 and 1, not {rate}")
    if wrong.all() or not wrong.any():
        raise ValueError("weighing drops at a contamination rate needs right and wrong drops")
    weights: np.ndarray = np.where(wrong, rate / wrong.sum(), (1 - rate) / (~wrong).sum())
    return weights


def _lowest(
    score: np.ndarray, positive: np.ndarray, precision: float, weight: np.ndarray | None = None
) -> float:
    w = np.ones(score.shape) if weight is None else weight
    for t in GRID:
        called = score >= t
        if called.any() and (w * (positive & called)).sum() / (w * called).sum() >= precision:
            return float(t)
    return float(GRID[-1])


def lower_flag_thresholds(
    category_probs: np.ndarray,
    truth: np.ndarray,
    thresholds: Thresholds,
    rate: float,
    categories: Sequence[Category] = LOWERED,
    views: int = 1,
    precision: float = LOWERED_PRECISION,
    margin: float = LOWERED_MARGIN,
) -> Thresholds:
    """`thresholds` with a flag threshold of their own for each of `categories` (in turn, each
    on top of the ones before), lower than `thresholds.contaminated` where the rows allow it.

    The rows are `views` equal blocks (the same photos in each view, as `choose_thresholds`'
    callers stack them). Going down `LOWERED_GRID` from the shared threshold, a category's
    threshold may go on while, in every view on its own, the flags it offends in (every item
    dropped into every bin, `judge_drops`) reach `precision` where `rate` of drops are wrong;
    the first threshold that fails ends the walk. The category gets the lowest threshold that
    passed, plus `margin` (so the val views' last one is not the field's), if that is below the
    shared one; else none."""
    n = len(truth)
    if views < 1 or n % views:
        raise ValueError(f"{n} rows are not {views} equal views")
    blocks = [slice(i * n // views, (i + 1) * n // views) for i in range(views)]
    cats = _columns(category_probs)
    wrong = truth[:, None] != np.arange(len(cats))[None, :]
    weights = [at_rate(wrong[b], rate) for b in blocks]
    chosen = thresholds
    for category in categories:
        column = cats.index(category)
        lowest = None
        for t in LOWERED_GRID[chosen.contaminated > LOWERED_GRID]:
            trial = chosen.model_copy(update={
                "contaminated_by_category": {**chosen.contaminated_by_category, category: float(t)},
            })  # fmt: skip
            offends = judge_drops(category_probs, trial, offending=True) == column
            if not all(_precise(offends[b], wrong[b], w, precision) for b, w in
                       zip(blocks, weights, strict=True)):  # fmt: skip
                break
            lowest = float(t)
        if lowest is not None and lowest + margin < chosen.contaminated:
            own = {**chosen.contaminated_by_category, category: round(lowest + margin, 3)}
            chosen = chosen.model_copy(update={"contaminated_by_category": own})
    return chosen


def lowered_categories(text: str) -> tuple[Category, ...]:
    """`--lower-flags`' value: categories by name, comma-separated; "none" for none."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return ()
    known = {c.value: c for c in Category}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"--lower-flags takes {', '.join(known)} or none, not {text!r}")
    return tuple(known[n] for n in names)


def _columns(category_probs: np.ndarray) -> list[Category]:
    """The categories of the probabilities' columns (in `Category`'s order)."""
    return list(Category)[: category_probs.shape[1]]


def _precise(
    called: np.ndarray, positive: np.ndarray, weight: np.ndarray, precision: float
) -> bool:
    """No call at all is precise; else the weighted share of calls that are right."""
    total = (weight * called).sum()
    return bool(total == 0 or (weight * (called & positive)).sum() / total >= precision)


def judge_drops(
    category_probs: np.ndarray, thresholds: Thresholds, offending: bool = False
) -> np.ndarray:
    """Every item dropped into every bin, each bin taking one category (the columns' order):
    the verdict rule's kind (`vision.verdict.judge_item`) per item and bin, N×bins; with
    `offending`, the column of the category a flag names instead (−1 where none is)."""
    cats = _columns(category_probs)

    def cell(j: ItemJudgement) -> object:
        if not offending:
            return j.kind
        return -1 if j.offending is None else cats.index(j.offending)

    return np.array([
        [cell(judge_item(dict(zip(cats, row, strict=True)), frozenset({c}), thresholds))
         for c in cats]
        for row in category_probs
    ]).reshape(category_probs.shape)  # fmt: skip


def threshold_effect(
    category_probs: np.ndarray, truth: np.ndarray, thresholds: Thresholds, rate: float
) -> dict[str, float]:
    """What thresholds do with every item dropped into every bin (`judge_drops`): the share of
    right drops flagged (false flags) and left `uncertain`, the share of wrong drops flagged,
    left `uncertain` and called `correct` (missed), and the flags' precision where `rate` of
    drops are wrong; and per category, the share of its items' wrong drops flagged
    (`wrong_flagged_hazardous`, ...)."""
    wrong = truth[:, None] != np.arange(category_probs.shape[1])[None, :]
    kinds = judge_drops(category_probs, thresholds)
    flagged = kinds == VerdictKind.CONTAMINATED
    correct, uncertain = kinds == VerdictKind.CORRECT, kinds == VerdictKind.UNCERTAIN
    false_flags, caught = float(flagged[~wrong].mean()), float(flagged[wrong].mean())
    called = rate * caught + (1 - rate) * false_flags
    by_category = {
        f"wrong_flagged_{c.value}": float(flagged[wrong & (truth[:, None] == i)].mean())
        for i, c in enumerate(_columns(category_probs))
        if (wrong & (truth[:, None] == i)).any()
    }
    return by_category | {
        "right_flagged": false_flags,
        "right_uncertain": float(uncertain[~wrong].mean()),
        "wrong_flagged": caught,
        "wrong_uncertain": float(uncertain[wrong].mean()),
        "wrong_called_correct": float(correct[wrong].mean()),
        "flag_precision_at_rate": rate * caught / called if called else float("nan"),
    }


def choose_background_threshold(
    items: np.ndarray, empty: np.ndarray, max_item_drop: float = 0.01
) -> tuple[float, dict[str, float]]:
    """P(background) threshold: the lowest on the grid (0.5 and up) that drops at most
    `max_item_drop` of the real items (`items`: their P(background)); lower thresholds reject
    more empty crops (`empty`), so the lowest that spares the items is the one that rejects most.
    Returns the threshold and what it does on these crops."""
    chosen = 0.99
    for t in np.round(np.arange(0.5, 0.991, 0.01), 2):
        if (items >= t).mean() <= max_item_drop:
            chosen = float(t)
            break
    return chosen, {
        "items_dropped": float((items >= chosen).mean()) if len(items) else float("nan"),
        "empty_rejected": float((empty >= chosen).mean()) if len(empty) else float("nan"),
    }
