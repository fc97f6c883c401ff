"""edge.scoring: each found drop-off matched to the truth, its verdict counted true→found."""

from __future__ import annotations

from edge.scoring import Found, flag_counts, score


def _true(n: int, verdict: str, start: int) -> dict[str, object]:
    return {"n": n, "bin": "SIM-R", "start_frame": start, "end_frame": start + 10,
            "verdict": verdict, "items": [{"category": "recyclable"}]}  # fmt: skip


def test_verdicts_are_counted_true_to_found() -> None:
    truth = [_true(0, "correct", 0), _true(1, "contaminated", 100), _true(2, "correct", 200),
             _true(3, "contaminated", 300)]  # fmt: skip
    found = [Found(5, "SIM-R", "contaminated", ("other",)),  # a false flag
             Found(105, "SIM-R", "uncertain", ("other",)),  # a wrong drop left to a supervisor
             Found(205, "SIM-R", "correct", ("recyclable",)),
             Found(305, "SIM-R", "contaminated", ("other",))]  # fmt: skip
    result = score(truth, found)
    assert result.verdicts == {"contaminated→contaminated": 1, "contaminated→uncertain": 1,
                               "correct→contaminated": 1, "correct→correct": 1}  # fmt: skip
    assert result.verdict_agree == 2
    counts = flag_counts(result.verdicts)
    assert counts["flagged"] == 2 and counts["false_flags"] == 1
    assert counts["flag_precision"] == 0.5
    assert (counts["wrong"], counts["wrong_flagged"], counts["wrong_uncertain"]) == (2, 1, 1)
    assert (counts["right"], counts["right_uncertain"]) == (2, 0)
