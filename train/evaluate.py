"""`binwatch evaluate`: score an ONNX model through the shared classifier (never torch).

Accuracy and macro recall for fine labels and categories, per-class precision and recall, the
4×4 category confusion matrix, calibration (ECE, reliability table) and contamination-flag
precision/recall at the model's thresholds for every bin category, treating each image as an
item dropped into each of the four bins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from train.manifest import Sample
from train.metrics import expected_calibration_error, flag_scores, summary
from vision.classifier import Classifier
from vision.imageio import read_image
from vision.taxonomy import Category
from vision.verdict import VerdictKind, judge_item

log = logging.getLogger(__name__)
CATEGORIES = list(Category)


def predict(classifier: Classifier, samples: Sequence[Sample], batch: int = 64) -> np.ndarray:
    """Probabilities (N×labels) for the samples' images, through vision's preprocessing."""
    out = []
    for start in tqdm(range(0, len(samples), batch), desc="evaluate", unit="batch", leave=False):
        images = [read_image(s.path) for s in samples[start : start + batch]]
        out.append(np.stack([p.probabilities for p in classifier.classify(images)]))
    return np.concatenate(out)


def score(classifier: Classifier, samples: Sequence[Sample], probs: np.ndarray) -> dict[str, Any]:
    labels = list(classifier.labels)
    profile = classifier.profile
    label_index = {label: i for i, label in enumerate(labels)}
    truth = np.array([label_index[s.label] for s in samples])
    predicted = probs.argmax(axis=1)
    label_cat = np.array([CATEGORIES.index(profile.category_of(lb)) for lb in labels])
    truth_cat = np.array([CATEGORIES.index(profile.category_of(s.label)) for s in samples])
    cat_probs = np.zeros((len(samples), len(CATEGORIES)))
    for j, c in enumerate(label_cat):
        cat_probs[:, c] += probs[:, j]
    fine = summary(truth, predicted, labels)
    cats = summary(truth_cat, cat_probs.argmax(axis=1), [c.value for c in CATEGORIES])
    ece, reliability = expected_calibration_error(probs, truth)
    cat_ece, _ = expected_calibration_error(cat_probs, truth_cat)
    return {
        "images": len(samples),
        "fine": fine,
        "category": cats,
        "calibration": {"ece": ece, "category_ece": cat_ece, "reliability": reliability},
        "flags": contamination_flags(cat_probs, truth_cat, classifier),
    }


def contamination_flags(
    cat_probs: np.ndarray, truth_cat: np.ndarray, classifier: Classifier
) -> dict[str, Any]:
    """Each image dropped into each bin: flag precision/recall per bin and per item category."""
    thresholds = classifier.metadata.thresholds
    per_bin: dict[str, Any] = {}
    flagged_all, wrong_all, item_cat_all = [], [], []
    for b, bin_cat in enumerate(CATEGORIES):
        accepted = frozenset({bin_cat})
        flagged = np.array([
            judge_item(dict(zip(CATEGORIES, row, strict=True)), accepted, thresholds).kind
            is VerdictKind.CONTAMINATED
            for row in cat_probs
        ])  # fmt: skip
        wrong = truth_cat != b
        per_bin[bin_cat.value] = flag_scores(flagged, wrong)
        flagged_all.append(flagged)
        wrong_all.append(wrong)
        item_cat_all.append(truth_cat)
    flagged, wrong, item_cat = map(np.concatenate, (flagged_all, wrong_all, item_cat_all))
    by_item = {
        c.value: flag_scores(flagged[item_cat == i], wrong[item_cat == i])
        for i, c in enumerate(CATEGORIES)
    }
    mask = np.isin(
        item_cat, [CATEGORIES.index(Category.HAZARDOUS), CATEGORIES.index(Category.KITCHEN)]
    )
    return {
        "by_bin": per_bin,
        "by_item_category": by_item,
        "hazardous_and_kitchen_items": flag_scores(flagged[mask], wrong[mask]),
        "all": flag_scores(flagged, wrong),
        "thresholds": thresholds.model_dump(mode="json"),
    }
