"""Score the agent's drop-offs against a simulation's truth (pure): detection recall, spurious
events, and how often the verdict and the item categories agree with the truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Found:
    frame: int
    bin: str
    verdict: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    dropoffs: int
    events: int
    matched: int
    spurious: int
    verdict_agree: int
    items_true: int
    items_found: int
    items_agree: int = 0  # found items whose category matches a true item's (as multisets)
    # matched drop-offs by "true verdict→found verdict" ("contaminated→uncertain": a wrong drop
    # left to a supervisor; "correct→contaminated": a false flag)
    verdicts: dict[str, int] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.matched / self.dropoffs if self.dropoffs else 1.0

    @property
    def spurious_rate(self) -> float:
        return self.spurious / self.dropoffs if self.dropoffs else 0.0

    @property
    def verdict_accuracy(self) -> float:
        return self.verdict_agree / self.matched if self.matched else 0.0


def score(truth: Sequence[dict[str, Any]], found: Sequence[Found], window: int = 40) -> Score:
    """Each event matches the earliest unmatched true drop-off in its bin whose hand-in to
    hand-out span, plus `window` frames to settle, contains the event's frame."""
    used: set[int] = set()
    verdicts: Counter[str] = Counter()
    matched = agree = items_found = items_agree = 0
    spurious = 0
    for event in sorted(found, key=lambda f: f.frame):
        hit = None
        for n, t in enumerate(truth):
            if n in used or t["bin"] != event.bin:
                continue
            if t["start_frame"] <= event.frame <= t["end_frame"] + window:
                hit = n
                break
        if hit is None:
            spurious += 1
            continue
        used.add(hit)
        matched += 1
        agree += truth[hit]["verdict"] == event.verdict
        verdicts[f"{truth[hit]['verdict']}→{event.verdict}"] += 1
        items_found += len(event.categories)
        true_categories = Counter(item["category"] for item in truth[hit]["items"])
        items_agree += sum((true_categories & Counter(event.categories)).values())
    return Score(
        dropoffs=len(truth),
        events=len(found),
        matched=matched,
        spurious=spurious,
        verdict_agree=agree,
        items_true=sum(len(t["items"]) for t in truth),
        items_found=items_found,
        items_agree=items_agree,
        verdicts=dict(sorted(verdicts.items())),
    )


def flag_counts(verdicts: Mapping[str, int]) -> dict[str, Any]:
    """From "true→found" verdict counts (`Score.verdicts`, or several summed): the drop-offs
    flagged, how many of them were sorted right (false flags), and where the wrong and the right
    drop-offs went."""
    pairs = Counter({tuple(key.split("→")): n for key, n in verdicts.items()})
    wrong = sum(n for (true, _), n in pairs.items() if true == "contaminated")
    flagged = sum(n for (_, found), n in pairs.items() if found == "contaminated")
    false = pairs["correct", "contaminated"]
    return {
        "flagged": flagged,
        "false_flags": false,
        "flag_precision": (flagged - false) / flagged if flagged else float("nan"),
        "wrong": wrong,
        "wrong_flagged": pairs["contaminated", "contaminated"],
        "wrong_uncertain": pairs["contaminated", "uncertain"],
        "right": sum(n for (true, _), n in pairs.items() if true == "correct"),
        "right_uncertain": pairs["correct", "uncertain"],
    }
