"""The retrain gate: a model's scores on the base test split and the held-back reviewed images
(`compare`), the decision between the active model and the candidate (`verdict`), what moved on
base test (`base_changes`), and the report a person reads (`markdown`). train.retrain's
docstring, step 4, says what the gate asks and why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from train.evaluate import CATEGORIES, category_probs, predict, read_samples, score, split_outputs
from train.grey_head import head_logits, read_grey_head, sample_flags
from train.head import read_head
from train.manifest import Sample
from train.metrics import softmax
from vision.classifier import Classifier
from vision.metadata import BACKGROUND
from vision.zoom import ZoomParams


def log_loss(probs: np.ndarray, samples: Sequence[Sample], labels: Sequence[str]) -> float:
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index[s.label] for s in samples])
    picked = probs[np.arange(len(truth)), truth]
    return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def outcome_probability(
    probs: np.ndarray, samples: Sequence[Sample], classifier: Classifier
) -> np.ndarray:
    """Each photo's probability of what the office sees it as: an item's category (the
    probabilities of its labels summed: the category's share of the item outputs times what
    "no item" leaves) or, for an empty crop, "no item" (the background output)."""
    labels, profile = list(classifier.labels), classifier.profile
    _, background = split_outputs(probs, labels)
    categories = category_probs(probs, labels, profile) * (1.0 - background)[:, None]
    empty = np.array([s.label == BACKGROUND for s in samples])
    truth = [0 if s.label == BACKGROUND else CATEGORIES.index(profile.category_of(s.label))
             for s in samples]  # fmt: skip
    return np.where(empty, background, categories[np.arange(len(samples)), truth])


def outcome_log_loss(probs: np.ndarray, samples: Sequence[Sample], classifier: Classifier) -> float:
    """Mean -log of `outcome_probability`: a proper score of the answer a site gets, blind to
    moves between labels of one category (reported; the gate decides on the fine labels' log
    loss)."""
    picked = outcome_probability(probs, samples, classifier)
    return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def compare(
    path: Path,
    base_test: Sequence[Sample],
    field: Sequence[Sample],
    base_features: np.ndarray | None = None,
    base_flags: np.ndarray | None = None,
) -> dict[str, Any]:
    """A model's scores on the base test split and the held-back field images. The field images
    run through the shared classifier as `binwatch classify` reads them (a whole frame with a
    small item on a plain floor read close up as well, vision.zoom: the gate judges the
    answers a site gets, not the whole frame alone); the base test split through the shared
    classifier too (read whole, as the model was trained and scored), unless `base_features` (its
    head features from the body every candidate shares, cached) are given: then its
    probabilities are the model's own head on them (features × head = the model's output, to
    1e-4: tests/train/test_head.py), which saves running the whole network twice per retrain.
    A model with a grey head (train.grey_head) adds its correction on the photos it takes for
    grey frames (`base_flags`, else found here)."""
    classifier = Classifier(path)
    out: dict[str, Any] = {"model_version": classifier.metadata.model_version}
    for name, samples in (("base_test", base_test), ("field_holdout", field)):
        if not samples:
            out[name] = {"images": 0}
            continue
        if name == "base_test" and base_features is not None:
            model = onnx.load(str(path))
            head, delta = read_head(model), read_grey_head(model)
            if delta is not None and base_flags is None:
                base_flags = sample_flags(samples, classifier.metadata, delta.threshold)
            flags = 0.0 if base_flags is None else base_flags
            probs = softmax(head_logits(base_features, head.weight, head.bias, delta, flags))
        elif name == "base_test":
            probs = predict(classifier, samples)
        else:
            readings = read_samples(classifier, samples, zoom=ZoomParams())
            probs = np.stack([r.prediction.probabilities for r in readings])
        loss = log_loss(probs, samples, classifier.labels)
        out[name] = {"images": len(samples), "log_loss": loss,
                     "outcome_log_loss": outcome_log_loss(probs, samples, classifier)}  # fmt: skip
        items = np.array([s.category is not None for s in samples])
        if items.any():
            counts = Counter(s.category for s in samples if s.category is not None)
            out[name] |= {"categories": len(counts), "smallest_category": min(counts.values())}
            scored = score(classifier, [s for s in samples if s.category is not None], probs[items])
            out[name] |= {
                "category_accuracy": scored["category"]["accuracy"],
                "category_macro_recall": scored["category"]["macro_recall"],
                "fine_accuracy": scored["fine"]["accuracy"],
                "ece": scored["calibration"]["ece"],
            }
            if name == "field_holdout":  # where the site gains or loses, category by category
                out[name]["category_right"] = right_by_category(scored["category"])
            if name == "base_test":  # each item photo's category answer (base_changes)
                answers = category_probs(probs[items], classifier.labels, classifier.profile)
                out[name]["answers"] = [CATEGORIES[i].value for i in answers.argmax(axis=1)]
        if not items.all():  # crops a reviewer found empty: how many the model calls "no item"
            _, background = split_outputs(probs[~items], classifier.labels)
            rejected = background >= classifier.metadata.thresholds.background
            out[name]["no_item"] = {"crops": int((~items).sum()),
                                    "rejected": float(rejected.mean())}  # fmt: skip
    return out


def base_changes(
    labels: Sequence[str], truth: Sequence[str], active: Sequence[str], candidate: Sequence[str]
) -> list[dict[str, Any]]:
    """The base test photos the candidate answers differently, by label and move: what a
    refusal (or a pass) rests on, e.g. "6 residual photos, other → recyclable: lost". Per item
    photo in order: its label, its category under the model's profile, and each model's answer
    (compare's `truth` and `answers`)."""
    moves = Counter(
        (label, a, c, "lost" if a == t else "gained" if c == t else "moved")
        for label, t, a, c in zip(labels, truth, active, candidate, strict=True)
        if a != c
    )
    order = {"lost": 0, "gained": 1, "moved": 2}
    return [
        {"label": label, "from": a, "to": c, "effect": effect, "photos": n}
        for (label, a, c, effect), n in sorted(moves.items(),
                                               key=lambda kv: (order[kv[0][3]], -kv[1], kv[0]))
    ]  # fmt: skip


def base_reasons(
    active: dict[str, Any], candidate: dict[str, Any], margin: float
) -> tuple[list[str], float]:
    """Why the candidate is worse than the active on base test (empty: it is not), and its
    largest drop there. "No worse" allows `margin`, or one image's worth where the split is so
    small that one image moves a score by more than that (161 base test photos: one photo of a
    23-photo category is 1.09 points of macro recall); a gate finer than its data fires on
    noise."""
    reasons = []
    drops = {}
    base = candidate["base_test"]
    one_image = {
        "category_accuracy": 1 / base["images"] if base.get("images") else 0.0,
        "category_macro_recall": 1 / (base["categories"] * base["smallest_category"])
        if base.get("smallest_category")
        else 0.0,
    }
    for key, name in (("category_accuracy", "accuracy"), ("category_macro_recall", "macro recall")):
        drops[key] = active["base_test"][key] - base[key]
        allowed = max(margin, one_image[key] + 1e-9)
        if drops[key] > allowed:
            why = "" if allowed == margin else ", one image's worth on this split"
            reasons.append(
                f"base test category {name} drops {100 * drops[key]:.2f} points "
                f"(allowed {100 * allowed:.2f}{why})"
            )
    return reasons, max(drops.values())


def verdict(active: dict[str, Any], candidate: dict[str, Any], margin: float) -> dict[str, Any]:
    """Register the candidate only when it is no worse on base test (`base_reasons`) and better
    on the field."""
    reasons, base_drop = base_reasons(active, candidate, margin)
    field_a, field_c = active["field_holdout"], candidate["field_holdout"]
    if field_c["images"] == 0:
        reasons.append("no held-back field images to compare on")
    elif field_c["log_loss"] >= field_a["log_loss"]:
        reasons.append("field log loss is not lower")
    return {"passed": not reasons, "reasons": reasons, "base_test_drop": base_drop}


def right_by_category(scored: dict[str, Any]) -> dict[str, list[int]]:
    """[right, photos] per category that has photos, from a category summary's confusion."""
    matrix = scored["confusion"]
    return {name: [int(matrix[i][i]), int(sum(matrix[i]))]
            for i, name in enumerate(scored["names"]) if sum(matrix[i])}  # fmt: skip


def _by_category(active: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """The held-back reviews, right of photos per category, as each model reads them."""
    before, after = active.get("category_right"), candidate.get("category_right")
    if not before or not after:
        return []
    lines = ["Held-back reviews by category (right of photos; a few photos each, so one photo",
             "moves a row by many points):", "", "| category | active | candidate |",
             "|---|---|---|"]  # fmt: skip
    for name, (right, photos) in after.items():  # the same photos: the same categories
        lines.append(f"| {name} | {before[name][0]} of {photos} | {right} of {photos} |")
    return [*lines, ""]


def markdown(report: dict[str, Any]) -> str:
    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.2f} %"

    def loss(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    a, c, d = report["active"], report["candidate"], report["decision"]
    lines = [
        f"# Retraining {a['model_version']} → {c['model_version']}",
        "",
        f"Field: {report['field']['reviewed_images']} reviewed images, "
        f"{report['field']['train']} trained on "
        f"({report['field']['train_grey_share']:.0%} of them grey frames), "
        f"{report['field']['held_back']} held back (by event).",
        "",
        f"Method: {report['recipe']['method']}; the candidate: {report['recipe']['form']}.",
        "",
        "| | active | candidate |",
        "|---|---|---|",
    ]
    for part in ("base_test", "field_holdout"):
        for key, show in (
            ("category_accuracy", pct),
            ("category_macro_recall", pct),
            ("fine_accuracy", pct),
            ("log_loss", loss),
            ("outcome_log_loss", loss),
        ):
            lines.append(f"| {part} {key} | {show(a[part].get(key))} | {show(c[part].get(key))} |")
    if "no_item" in c["field_holdout"]:
        crops = c["field_holdout"]["no_item"]["crops"]
        before = a["field_holdout"].get("no_item", {}).get("rejected")
        after = c["field_holdout"]["no_item"]["rejected"]
        lines.append(f"| field_holdout empty crops answered \"no item\" ({crops}) | {pct(before)} "
                     f"| {pct(after)} |")  # fmt: skip
    lines += ["", *_by_category(a["field_holdout"], c["field_holdout"])]
    lines += [
        f"Decision: **{'passed' if d['passed'] else 'not passed'}**"
        + ("" if d["passed"] else ": " + "; ".join(d["reasons"])),
        f"(base test category accuracy and macro recall may each drop at most "
        f"{100 * report['margin']:.2f} points, or one image's worth on a small split; the "
        "held-back field images must have a lower log loss)",
        "",
    ]
    changes = report.get("base_test_changes", [])
    if changes:
        lines += ["Base test photos the candidate answers differently:", ""]
        lines += [f"- {c['effect']}: {c['photos']} {c['label']}, {c['from']} → {c['to']}"
                  for c in changes]  # fmt: skip
        lines.append("")
    return "\n".join(lines)
