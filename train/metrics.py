"""Classification metrics, calibration and contamination-flag scores. Pure numpy."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def softmax(logits: npt.ArrayLike, temperature: float = 1.0) -> FloatArray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def confusion(truth: npt.ArrayLike, predicted: npt.ArrayLike, classes: int) -> IntArray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth), np.asarray(predicted)), 1)
    return matrix


def per_class(matrix: IntArray) -> tuple[FloatArray, FloatArray]:
    """(precision, recall) per class; NaN where a class has no predictions or no examples."""
    diag = np.diag(matrix).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = diag / matrix.sum(axis=0)
        recall = diag / matrix.sum(axis=1)
    return precision, recall


def summary(truth: npt.ArrayLike, predicted: npt.ArrayLike, names: Sequence[str]) -> dict[str, Any]:
    matrix = confusion(truth, predicted, len(names))
    precision, recall = per_class(matrix)
    present = matrix.sum(axis=1) > 0
    return {
        "accuracy": float(np.trace(matrix) / max(1, matrix.sum())),
        "macro_recall": float(np.nanmean(recall[present])) if present.any() else float("nan"),
        "per_class": {
            name: {"precision": _num(p), "recall": _num(r), "support": int(n)}
            for name, p, r, n in zip(names, precision, recall, matrix.sum(axis=1), strict=True)
        },
        "confusion": matrix.tolist(),
        "names": list(names),
    }


def _num(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def expected_calibration_error(
    probabilities: npt.ArrayLike, truth: npt.ArrayLike, bins: int = 15
) -> tuple[float, list[dict[str, float]]]:
    """ECE of the top-1 confidence over equal-width bins, and the reliability table."""
    probs = np.asarray(probabilities, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(truth)
    edges = np.linspace(0.0, 1.0, bins + 1)
    table, ece = [], 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if not inside.any():
            continue
        acc, conf = float(correct[inside].mean()), float(confidence[inside].mean())
        ece += inside.mean() * abs(acc - conf)
        table.append({"low": float(low), "high": float(high), "count": int(inside.sum()),
                      "accuracy": acc, "confidence": conf})  # fmt: skip
    return float(ece), table


def fit_temperature(logits: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """The temperature that minimises the negative log-likelihood (golden-section on log T)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(truth)

    def nll(log_t: float) -> float:
        p = softmax(z, float(np.exp(log_t)))
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    low, high = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if nll(a) < nll(b):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))


def flag_scores(flagged: npt.ArrayLike, wrong: npt.ArrayLike) -> dict[str, float]:
    """Precision and recall of contamination flags against the truth (item in the wrong bin)."""
    f = np.asarray(flagged, dtype=bool)
    w = np.asarray(wrong, dtype=bool)
    tp = int((f & w).sum())
    return {
        "precision": tp / int(f.sum()) if f.any() else float("nan"),
        "recall": tp / int(w.sum()) if w.any() else float("nan"),
        "flagged": int(f.sum()),
        "wrong": int(w.sum()),
    }
