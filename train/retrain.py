"""Retraining from reviewed field images: fine-tune the active model's head, compare, decide.

1. The reviewed samples (the service's `reviewed.zip`, a manifest in the shared format) are split
   by event into field-train and a held-back field set (`--field-holdout`, drawn from the event id,
   so an event's crops never straddle the two). The base manifests keep their own splits; their
   test split is never trained on.
2. The active model computes its head's input features (ONNX Runtime) for base train, field-train
   (several augmented views each), base val and base test; the base photos' features are kept on
   disk per model file (train.feature_cache), so the next retrain from it skips that work.
3. The head (W, b) starts from the active model's and trains on base train plus field-train, the
   field images weighted up, with a pull towards the active head so it moves only as far as the
   data asks; base labels weigh equally, as in training. The temperature is refitted and the
   verdict thresholds re-chosen on base val.
4. The candidate is the active model with the new head. Both are scored on the held-back field
   images through the shared classifier and on the base test split from its cached features and
   each model's head (the same numbers: the candidate shares the active body). The candidate
   passes when it is no worse than the active on base test category accuracy and macro recall
   (each within `--margin`) and better on the field images: a lower log loss (a proper score
   that uses every image's probabilities; on tens of held-back crops one image moves accuracy by
   several points, so accuracy is reported but does not decide).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from tqdm import tqdm

from train.augment import make_augmenter
from train.background import make_backgrounds
from train.evaluate import category_probs, predict, score
from train.feature_cache import FeatureCache
from train.head import read_head, replace_head, with_features
from train.manifest import Sample
from train.metrics import fit_temperature, softmax
from train.thresholds import choose_thresholds
from vision.classifier import Classifier
from vision.imageio import read_image
from vision.metadata import BACKGROUND, DatasetRef, ModelMetadata, embed_metadata
from vision.preprocess import preprocess
from vision.taxonomy import Category

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainOptions:
    field_weight: float = 5.0  # one field image counts as this many base images
    field_views: int = 4  # views per field-train image: one plain, the rest augmented
    field_holdout: float = 0.3  # share of reviewed events held back for the comparison
    steps: int = 300
    lr: float = 1e-3
    anchor: float = 3e-2  # pull towards the active head (L2 on the difference)
    label_smoothing: float = 0.0  # 0.1 (as in training) cost 1.3-2.6 points of base macro recall
    margin: float = 0.01  # allowed drop in base test category accuracy and macro recall
    seed: int = 0
    threads: int = 2


def held_back(sample: Sample, share: float) -> bool:
    """Whether a field sample is held back, drawn from its event id (its group, without the
    manifest name that `load_manifests` puts in front)."""
    event = sample.group.split(":", 1)[-1]
    digest = hashlib.sha256(event.encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF < share


def features(
    session: ort.InferenceSession,
    samples: Sequence[Sample],
    metadata: ModelMetadata,
    augment: Callable[[np.ndarray], np.ndarray] | None = None,
    desc: str = "features",
    batch: int = 32,
) -> np.ndarray:
    """The head's input features of each sample's image (augmented first when given)."""
    out = []
    for start in tqdm(range(0, len(samples), batch), desc=desc, unit="batch", leave=False):
        images = [read_image(s.path) for s in samples[start : start + batch]]
        if augment is not None:
            images = [augment(image) for image in images]
        tensor = preprocess(images, metadata.preprocess, "bgr")
        out.append(session.run([session.get_outputs()[1].name], {"image": tensor})[0])
    width = session.get_outputs()[1].shape[-1]
    return np.concatenate(out) if out else np.zeros((0, width or 0), np.float32)


def balanced_weights(targets: np.ndarray, classes: int) -> np.ndarray:
    """Each label weighs the same in all (as in training), the mean weight is 1; keeps rare
    labels (cigarettes, medicine) from losing recall to the field's common ones."""
    counts = np.bincount(targets, minlength=classes).astype(np.float64)
    weights = 1.0 / np.maximum(counts[targets], 1.0)
    return np.asarray(weights / weights.mean()) if len(weights) else weights


def train_head(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    start: tuple[np.ndarray, np.ndarray],
    options: RetrainOptions,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted cross-entropy with a pull towards `start`; full-batch AdamW, cosine schedule."""
    torch.manual_seed(options.seed)
    w0, b0 = (torch.from_numpy(np.asarray(a, np.float32)) for a in start)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
    wt = torch.from_numpy((weights / weights.sum()).astype(np.float32))
    optimizer = torch.optim.AdamW([w, b], lr=options.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / options.steps))
    )
    for step in range(options.steps):
        logits = xt @ w.T + b
        loss = torch.nn.functional.cross_entropy(
            logits, yt, reduction="none", label_smoothing=options.label_smoothing
        )
        loss = (loss * wt).sum()
        loss = loss + options.anchor * ((w - w0) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == options.steps - 1:
            log.info("head step %d: loss %.4f", step, loss.item())
    return w.detach().numpy(), b.detach().numpy()


def log_loss(probs: np.ndarray, samples: Sequence[Sample], labels: Sequence[str]) -> float:
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index[s.label] for s in samples])
    picked = probs[np.arange(len(truth)), truth]
    return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def compare(
    path: Path,
    base_test: Sequence[Sample],
    field: Sequence[Sample],
    base_features: np.ndarray | None = None,
) -> dict[str, Any]:
    """A model's scores on the base test split and the held-back field images. The field images
    run through the shared classifier; the base test split too, unless `base_features` (its
    head features from the body every candidate shares, cached) are given: then its
    probabilities are the model's own head on them (features × head = the model's output, to
    1e-4: tests/train/test_head.py), which saves running the whole network twice per retrain."""
    classifier = Classifier(path)
    out: dict[str, Any] = {"model_version": classifier.metadata.model_version}
    for name, samples in (("base_test", base_test), ("field_holdout", field)):
        if not samples:
            out[name] = {"images": 0}
            continue
        if name == "base_test" and base_features is not None:
            head = read_head(onnx.load(str(path)))
            probs = softmax(base_features @ head.weight.T + head.bias)
        else:
            probs = predict(classifier, samples)
        scored = score(classifier, samples, probs)
        out[name] = {
            "images": len(samples),
            "category_accuracy": scored["category"]["accuracy"],
            "category_macro_recall": scored["category"]["macro_recall"],
            "fine_accuracy": scored["fine"]["accuracy"],
            "log_loss": log_loss(probs, samples, classifier.labels),
            "ece": scored["calibration"]["ece"],
        }
    return out


def verdict(active: dict[str, Any], candidate: dict[str, Any], margin: float) -> dict[str, Any]:
    """Register the candidate only when it is no worse on base test and better on the field."""
    reasons = []
    drops = {}
    for key, name in (("category_accuracy", "accuracy"), ("category_macro_recall", "macro recall")):
        drops[key] = active["base_test"][key] - candidate["base_test"][key]
        if drops[key] > margin:
            reasons.append(
                f"base test category {name} drops {100 * drops[key]:.2f} points "
                f"(allowed {100 * margin:.2f})"
            )
    base_drop = max(drops.values())
    field_a, field_c = active["field_holdout"], candidate["field_holdout"]
    if field_c["images"] == 0:
        reasons.append("no held-back field images to compare on")
    elif field_c["log_loss"] >= field_a["log_loss"]:
        reasons.append("field log loss is not lower")
    return {"passed": not reasons, "reasons": reasons, "base_test_drop": base_drop}


def write_candidate(
    active_path: Path,
    out: Path,
    weight: np.ndarray,
    bias: np.ndarray,
    metadata: ModelMetadata,
) -> None:
    model = replace_head(onnx.load(str(active_path)), weight, bias)
    del model.metadata_props[:]
    embed_metadata(model, metadata)
    onnx.save(model, str(out))


def fit_and_threshold(
    val_x: np.ndarray, val_y: np.ndarray, weight: np.ndarray, bias: np.ndarray, labels: list[str]
) -> tuple[np.ndarray, np.ndarray, float, Any]:
    """Refit the temperature on base val, fold it into the head, choose thresholds there."""
    from vision.taxonomy import load_profile

    logits = val_x @ weight.T + bias
    temperature = fit_temperature(logits, val_y)
    weight, bias = weight / temperature, bias / temperature
    probs = softmax(logits, temperature)
    national = load_profile("national")
    cats = list(Category)
    items = np.array([labels[t] != BACKGROUND for t in val_y], dtype=bool)
    cat = category_probs(probs[items], labels, national)
    truth = np.array([cats.index(national.category_of(labels[t])) for t in val_y[items]])
    thresholds = choose_thresholds(cat, truth)
    return weight, bias, temperature, thresholds


def feature_session(active_path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    model = with_features(onnx.load(str(active_path)))
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def start_head(active_path: Path) -> tuple[np.ndarray, np.ndarray]:
    head = read_head(onnx.load(str(active_path)))
    return head.weight, head.bias


def field_augmenter(seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Field crops are photos of the bin already: colour, blur and geometry, no new background."""
    return make_augmenter(seed, place_probability=0.0)


def _every(samples: list[Sample], limit: int) -> list[Sample]:
    return samples[:: max(1, len(samples) // limit)] if limit else samples


def retrain(
    active_path: Path,
    base_manifests: Sequence[Path],
    field_manifest: Path,
    out: Path,
    options: RetrainOptions,
    version: str | None = None,
    limit: int = 0,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """The whole recipe (module docstring); writes candidate.onnx, report.json, report.md.
    `cache_dir`: keep the base photos' features there per model (train.feature_cache)."""
    import json
    from datetime import UTC, datetime

    from train.export import git_commit
    from train.manifest import ManifestError, load_manifests, sha256_of

    torch.set_num_threads(options.threads)
    active = Classifier(active_path)
    labels = list(active.labels)
    base = load_manifests(base_manifests)
    try:
        field = load_manifests([field_manifest])
    except ManifestError as exc:
        raise ManifestError(f"reviewed samples: {exc} (review flagged images first)") from None
    unknown = sorted({s.label for s in field.samples if s.label not in labels})
    usable = [s for s in field.samples if s.label in labels]
    field_test = [s for s in usable if held_back(s, options.field_holdout)]
    field_train = [s for s in usable if not held_back(s, options.field_holdout)]
    base_train = _every(base.split("train"), limit)
    base_val, base_test = _every(base.split("val"), limit), _every(base.split("test"), limit)
    if BACKGROUND in labels:  # keep teaching "no item" as the head moves
        for name, into in (("train", base_train), ("val", base_val)):
            made = make_backgrounds(base.samples, name, out / "background" / name, options.seed)
            into += _every(made, limit // 10 if limit else 0)
    log.info(
        "field: %d train, %d held back, %d with labels the model lacks (%s); base: %d/%d/%d",
        len(field_train), len(field_test), len(field.samples) - len(usable), ", ".join(unknown),
        len(base_train), len(base_val), len(base_test),
    )  # fmt: skip
    if not field_train:
        raise ManifestError("no reviewed field images left to train on after the hold-out")

    session = feature_session(active_path, options.threads)
    meta = active.metadata
    index = {label: i for i, label in enumerate(labels)}
    cache = FeatureCache(cache_dir, sha256_of(active_path)) if cache_dir is not None else None

    def plain(samples: Sequence[Sample], desc: str) -> np.ndarray:
        def compute(part: Sequence[Sample]) -> np.ndarray:
            return features(session, part, meta, desc=desc)

        return compute(samples) if cache is None else cache.features(samples, compute)

    parts_x = [plain(base_train, "base train")]
    base_y = np.array([index[s.label] for s in base_train])
    parts_y = [base_y]
    parts_w = [balanced_weights(base_y, len(labels))]
    for view in range(options.field_views):
        augment = None if view == 0 else field_augmenter(options.seed + view)
        parts_x.append(features(session, field_train, meta, augment, desc=f"field view {view}"))
        parts_y.append(np.array([index[s.label] for s in field_train]))
        parts_w.append(np.full(len(field_train), options.field_weight / options.field_views))
    x, y, w = np.concatenate(parts_x), np.concatenate(parts_y), np.concatenate(parts_w)
    weight, bias = train_head(x, y, w, start_head(active_path), options)
    val_x = plain(base_val, "base val")
    if cache is not None:
        log.info("feature cache %s: %d photos found, %d computed", cache.path, cache.hits,
                 cache.misses)  # fmt: skip
    val_y = np.array([index[s.label] for s in base_val])
    weight, bias, temperature, thresholds = fit_and_threshold(val_x, val_y, weight, bias, labels)
    thresholds = thresholds.model_copy(update={"background": meta.thresholds.background})

    version = version or f"{meta.model_version}-r{datetime.now(UTC):%Y%m%d%H%M}"
    field_ref = {"name": "field-reviewed", "sha256": sha256_of(field_manifest),
                 "rows": len(field.samples)}  # fmt: skip
    recipe = {
        "retrained_from": meta.model_version,
        "method": "head fine-tune on the active model's features",
        "options": options.__dict__,
        "field_train_images": len(field_train),
        "field_holdout_images": len(field_test),
        "base_train_images": len(base_train),
        "temperature": temperature,
    }
    candidate_meta = meta.model_copy(
        update={
            "model_version": version,
            "thresholds": thresholds,
            "provenance": meta.provenance.model_copy(
                update={
                    "datasets": (*meta.provenance.datasets, DatasetRef(**field_ref)),
                    "commit": git_commit(),
                    "trained_at": datetime.now(UTC),
                    "recipe": recipe,
                }
            ),
        }
    )
    candidate_path = out / "candidate.onnx"
    write_candidate(active_path, candidate_path, weight, bias, candidate_meta)
    test_x = plain(base_test, "base test")
    before = compare(active_path, base_test, field_test, test_x)
    after = compare(candidate_path, base_test, field_test, test_x)
    decision = verdict(before, after, options.margin)
    metrics = {
        "test_category_accuracy": after["base_test"]["category_accuracy"],
        "test_category_macro_recall": after["base_test"]["category_macro_recall"],
        "test_fine_accuracy": after["base_test"]["fine_accuracy"],
        "test_ece": after["base_test"]["ece"],
        "field_category_accuracy": after["field_holdout"].get("category_accuracy"),
        "field_log_loss": after["field_holdout"].get("log_loss"),
        "parent_field_category_accuracy": before["field_holdout"].get("category_accuracy"),
        "parent_field_log_loss": before["field_holdout"].get("log_loss"),
    }
    final = candidate_meta.model_copy(
        update={
            "metrics": {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
        }
    )
    write_candidate(active_path, candidate_path, weight, bias, final)
    report = {
        "active": before,
        "candidate": after,
        "decision": decision,
        "margin": options.margin,
        "field": {
            "reviewed_images": len(field.samples),
            "train": len(field_train),
            "held_back": len(field_test),
            "labels_the_model_lacks": unknown,
        },
        "thresholds": thresholds.model_dump(),
        "recipe": recipe,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "report.md").write_text(markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.2f} %"

    a, c, d = report["active"], report["candidate"], report["decision"]
    lines = [
        f"# Retraining {a['model_version']} → {c['model_version']}",
        "",
        f"Field: {report['field']['reviewed_images']} reviewed images, "
        f"{report['field']['train']} trained on, {report['field']['held_back']} held back "
        "(by event).",
        "",
        "| | active | candidate |",
        "|---|---|---|",
    ]
    for part in ("base_test", "field_holdout"):
        for key, show in (
            ("category_accuracy", pct),
            ("category_macro_recall", pct),
            ("fine_accuracy", pct),
            ("log_loss", lambda v: "–" if v is None else f"{v:.3f}"),
        ):
            lines.append(f"| {part} {key} | {show(a[part].get(key))} | {show(c[part].get(key))} |")
    lines += [
        "",
        f"Decision: **{'passed' if d['passed'] else 'not passed'}**"
        + ("" if d["passed"] else ": " + "; ".join(d["reasons"])),
        f"(base test category accuracy and macro recall may each drop at most "
        f"{100 * report['margin']:.2f} points; the held-back field images must have a lower log "
        "loss)",
        "",
    ]
    return "\n".join(lines)
