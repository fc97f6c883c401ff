"""Retraining from reviewed field images: fine-tune the active model's head (and its last blocks),
compare, decide.

1. The reviewed samples (the service's `reviewed.zip`, a manifest in the shared format) are split
   by event into field-train and a held-back field set (`--field-holdout`, drawn from the event id,
   so an event's crops never straddle the two). The base manifests keep their own splits; their
   test split is never trained on. Crops a reviewer named `background` (no item: a hand, a
   shadow, an empty floor) train the model's "no item" output when it has one; a model without
   it skips them, as any label it lacks.
2. The active model computes its head's input features (ONNX Runtime) for base train (as the
   photos are and, for the head alone, as training draws its views: the head learned from
   those), field-train (several augmented views each and, where `binwatch classify` reads a
   photo close up as well, where the ground or the active model's activations place its item,
   that close-up: `close_ups`, its share of the photo's weight `close_up_share`, vision.zoom),
   base val and base test; the
   base photos' features are kept on disk per model file (train.feature_cache), so the next
   retrain from it skips that work.
3. The head (W, b) starts from the active model's and trains on base train plus field-train, the
   field images weighted up, with a pull towards the active head so it moves only as far as the
   data asks; base labels weigh equally, as in training, and under `limit` each base photo kept
   weighs for the ones skipped (a quick retrain is less precise, not another balance). From
   `tune_from` reviewed images on (or `tune_blocks` given), the model's last blocks train with
   it: rebuilt as torch from the ONNX file's own weights (train.tail; int8 dequantized, no other
   file needed), fed the activations where they begin (cached like the features), pulled harder
   towards where they started (train.tail_fit), and written back int8. A model with a grey head
   (train.grey_head) keeps its correction, and the rows it would read as grey frames (a night
   site's reviews, grey base photos) are fitted with the correction added (`grey_in_fit`), so
   the colour head learns what the file's grey reading still needs, and a reviewed grey frame's
   augmented views stay grey (`keep_grey`: a night camera sends nothing else). A grey tail
   (train.grey_tail: a copy of the last block for grey frames) is read as the file runs it: the
   head alone fits the file's features (a grey frame's through the copy), and tuned blocks
   that reach its switch train both copies, each row through the one the file takes for it
   (its grey flag a second input of the torch blocks). With `grey_apart` (off) the grey rows
   train the correction instead of the colour head (train.grey_head.GreyFit). The temperature is
   refitted on base val (and folded into the head and the grey correction alike: it was
   fitted on their sum) and the verdict thresholds chosen as `binwatch export` chooses them
   (base val as it is, at night and on drawn floors; flags at 97 % precision, `correct` at
   98 %); the background threshold stays the active model's.
4. The candidate is the active model with the new head (and blocks). Both are scored on the
   held-back field images through the shared classifier as `binwatch classify` reads them (a
   small item on a plain floor read close up as well, vision.zoom) and on the base test split
   from its cached features (through the candidate's own tail when it has one) and each model's head
   (the same numbers as running the file: tests/train/test_tail.py). The candidate
   passes when it is no worse than the active on base test category accuracy and macro recall
   (each within `--margin`, or one image's worth on a split too small for it) and better on the
   field images: a lower log loss (a proper score that uses every image's probabilities; on tens
   of held-back crops one image moves accuracy by several points, so accuracy is reported but
   does not decide). The log loss of each photo's category or "no item" (`outcome_log_loss`)
   is reported beside it; on the benches it tracks a site's change less well than the fine
   labels' (models/README.md, "The gate on a site").
5. A static int8 parent (`quantization: int8-static`) is retrained in its own graph
   (`static_candidate` -1, the default, resolves to 2): the activations at the cut (or the
   head's features) are the file's own int8 ones, tuned blocks run their activation rounding as
   fake quantization at the file's scales (train.tail), and the new weights go back into the
   static graph (int8 per channel, int32 biases; the head stays float), so the candidate runs
   what was fitted at the parent's speed. With 0 or 1 it goes through its float graph
   (train.quantize.float_view: the same weights, activations unrounded): the candidate written
   in the int8-weights form (0),
   or quantized statically again (1: min-max on 20 base training photos a label and up to 100
   reviewed ones, and night and placed views of them: train.quantize's `calibration_photos`,
   `field_calibration`). Both files then run whole on base test, as a camera runs them.
6. With `refit` (train.refit), a candidate that passed is fitted again, the same recipe, on every
   reviewed photo (the held-back ones too: they have done their work as a test), and that fit
   becomes candidate.onnx where it keeps the base test as the gate asks (the gated candidate:
   gated.onnx); the report keeps the gate's scores and adds the refit's base test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from tqdm import tqdm

from train.background import make_backgrounds
from train.evaluate import category_probs
from train.feature_cache import FeatureCache
from train.gate import base_changes, compare, markdown, verdict
from train.grey_head import (
    GreyDelta,
    GreyFit,
    add_grey_head,
    fitting_logits,
    grey_rows,
    head_logits,
    read_grey_head,
    sample_flags,
)
from train.grey_tail import GREY_FLAG, drop_grey_tail, has_grey_tail
from train.head import read_head, replace_head, with_features
from train.manifest import Sample
from train.metrics import fit_temperature, softmax
from train.quantize import (
    calibration_photos,
    field_calibration,
    float_view,
    static_form,
    weights_form,
)
from train.tail import TailModule, cut_for, with_outputs, write_tail
from train.tail_fit import TailOptions, distill_loss, soup, tail_features, train_tail
from train.thresholds import CONTAMINATION_RATE, LOWERED, choose_thresholds
from train.views import (
    TRAINING_VIEWS,
    VIEWS,
    boxed_view,
    close_up_boxes,
    field_augmenter,
    stays_grey,
    view_of,
)
from vision.classifier import Classifier, session_options
from vision.errors import ModelError
from vision.imageio import read_image
from vision.metadata import BACKGROUND, DatasetRef, ModelMetadata, embed_metadata
from vision.preprocess import preprocess
from vision.taxonomy import Category

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainOptions:
    field_weight: float = 5.0  # one field image counts as this many base images
    # how far each category of the reviews weighs the same (0: each photo the same, as reviewed;
    # 1: each category the same, the field's total weight unchanged); on a site with a third as
    # many `other` reviews it read the site worse and cost the base test as much (models/README.md)
    field_balance: float = 0.0
    field_views: int = 4  # views per field-train image: one plain, the rest augmented
    # 2: and its close-up where `binwatch classify` reads one with the active model: where the
    # ground places a small item (vision.zoom.find_item) or, on a ground that places none, the
    # model's activations do (vision.zoom.read_photos; 1, the ground's alone, read perforated
    # small-item sites 2.6 points worse, the simulator's whole sites level: models/README.md,
    # "Retraining on what is read"); 0: the photos alone
    close_ups: int = 2
    # the share of such a photo's weight its close-up takes; negative: an even split over its
    # views (the whole photo's `field_views` and the close-up)
    close_up_share: float = -1.0
    base_views: int = 2  # views per base-train photo: one plain, the rest as training draws them
    # (the head alone; tuning blocks, the photos as they are)
    field_holdout: float = 0.3  # share of reviewed events held back for the comparison
    steps: int = 300
    lr: float = 1e-3
    anchor: float = 3e-2  # pull towards the active head (L2 on the difference)
    label_smoothing: float = 0.0  # 0.1 (as in training) cost 1.3-2.6 points of base macro recall
    margin: float = 0.01  # allowed drop in base test category accuracy and macro recall
    # 1: once the candidate passes its gate, fit again on every review, held-back ones too, and
    # register that where it keeps the base test (train.refit; higher on 7 of 10 whole-site
    # draws, models/README.md); 0: the gated candidate
    refit: int = 1
    seed: int = 0
    threads: int = 2
    tune_blocks: int = -1  # last blocks trained with the head; -1: AUTO_BLOCKS from tune_from on
    tune_from: int = 40  # field-train images (before views) it takes to tune blocks (auto)
    tail_steps: int = 300
    tail_batch: int = 96  # activations per step, drawn by weight
    tail_lr: float = 2e-4
    tail_anchor: float = 1e-1
    # tuning blocks, this many fits from the same start (seeds `seed`, `seed` + 1, ...) averaged,
    # blocks and head alike (train.tail_fit.soup); 1: one fit (2 on four whole-site draws: -0.12
    # points on average for 1.7 times the time, models/README.md, "By day on whole sites")
    soup: int = 1
    # tuning blocks, the base photos also keep the parent's softened answers (train.tail_fit's
    # distill_loss), this much of it; 0: their labels alone
    distill: float = 0.0
    # tuning blocks, the base photos read as colour frames keep the head's input features near
    # the parent's (train.tail_fit's feature_shift), this much of it; 0: off (100 on eight night
    # draws: four up, four down, models/README.md)
    keep_features: float = 0.0
    # ... and the head alone (fewer reviews than `tune_from`), the same term on its base rows
    head_distill: float = 0.0
    # a grey head's correction (train.grey_head) added to the grey rows while fitting, as the
    # file reads them; off: the colour head fits grey rows bare and the correction comes on top
    grey_in_fit: int = 1
    # ... and a reviewed photo read as a grey frame keeps its augmented views grey (stays_grey)
    keep_grey: int = 1
    # 1: those grey rows train the grey correction, not the colour head (train.grey_head.GreyFit;
    # so night reviews leave the colour head, which every colour frame reads, to colour rows)
    grey_apart: int = 0
    # a static int8 parent: 2 fitted on its own int8 activations (the tuned blocks rounded as the
    # file rounds them) and written back into its graph; through its float graph, 0 written in
    # the int8-weights form (float activations, as fitted), 1 quantized statically again (on
    # three simulator sites 0.4-1.6 points lower, the gate refused two: models/README.md);
    # -1 (auto): 2, the head alone too (at full size it kept the base test as well as 0 or
    # better and read sites as well; under `limit` 400 it lost 3 base test photos in 9 of 10
    # hold-outs of the loop's reviews: bench/results/gate-noise-2.10-*.json, models/README.md)
    static_candidate: int = -1
    flag_precision: float = 0.97  # as `binwatch export`, where this share of drops are wrong
    # (0: each photo dropped into each bin, three wrong in four, as before lite0-waste-2.11)
    contamination_rate: float = CONTAMINATION_RATE
    correct_precision: float = 0.98
    # categories flagged at a threshold of their own (train.thresholds.lower_flag_thresholds;
    # () : one for all, as before lite0-waste-2.12)
    lowered_flags: tuple[Category, ...] = LOWERED

    def __post_init__(self) -> None:
        if not 1 <= self.base_views <= len(TRAINING_VIEWS) + 1:
            raise ValueError(f"base_views is 1 to {len(TRAINING_VIEWS) + 1}, not {self.base_views}")
        if self.close_ups not in (0, 1, 2):
            raise ValueError(f"close_ups is 0, 1 or 2, not {self.close_ups}")
        for name in ("grey_in_fit", "keep_grey", "grey_apart", "refit"):
            if getattr(self, name) not in (0, 1):
                raise ValueError(f"{name} is 0 or 1, not {getattr(self, name)}")
        if self.grey_apart and not self.grey_in_fit:
            raise ValueError("grey_apart trains the grey rows under the correction: grey_in_fit 1")
        if self.static_candidate not in (-1, 0, 1, 2):
            raise ValueError(f"static_candidate is -1, 0, 1 or 2, not {self.static_candidate}")
        for name in ("distill", "head_distill", "keep_features"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} is 0 or more, not {getattr(self, name)}")
        if not 0 <= self.contamination_rate < 1:
            raise ValueError(f"contamination_rate is 0 to 1, not {self.contamination_rate}")
        if not 0 <= self.field_balance <= 1:
            raise ValueError(f"field_balance is 0 to 1, not {self.field_balance}")
        if self.soup < 1:
            raise ValueError(f"soup is 1 or more, not {self.soup}")
        if self.soup > 1 and self.grey_apart:
            raise ValueError("soup averages the blocks and the head: not with grey_apart")
        if self.close_up_share >= 1:
            raise ValueError(f"close_up_share is below 1, not {self.close_up_share}")

    def static_mode(self) -> int:
        """`static_candidate` resolved."""
        return self.static_candidate if self.static_candidate >= 0 else 2

    def blocks_for(self, field_train: int) -> int:
        if self.tune_blocks >= 0:
            return self.tune_blocks
        return AUTO_BLOCKS if field_train >= self.tune_from else 0


AUTO_BLOCKS = 2  # EfficientNet-Lite0: its last inverted-residual block and the final convolution


def grey_share_of(
    model: onnx.ModelProto, metadata: ModelMetadata, samples: Sequence[Sample]
) -> float:
    """The share of these photos the model's grey head reads as grey frames (a night/IR
    site's reviews; 0 for a model without one)."""
    delta = read_grey_head(model)
    if delta is None or not samples:
        return 0.0
    return float(sample_flags(samples, metadata, delta.threshold).mean())


def held_back(sample: Sample, share: float) -> bool:
    """Whether a field sample is held back, drawn from its event id (its group, without the
    manifest name that `load_manifests` puts in front)."""
    event = sample.group.split(":", 1)[-1]
    digest = hashlib.sha256(event.encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF < share


def features_and_flags(
    session: ort.InferenceSession,
    samples: Sequence[Sample],
    metadata: ModelMetadata,
    augment: Callable[[np.ndarray], np.ndarray] | None = None,
    desc: str = "features",
    batch: int = 32,
    output: str | None = None,
    grey_threshold: float = 0.0,
    per_photo: Sequence[Callable[[np.ndarray], np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The head's input features (or the tensor `output`) of each sample's image (through its
    own `per_photo` view, such as a close-up, and then augmented, when given), and per sample
    1.0 where the image it read (the same draw of `augment`) is one a grey head takes for a
    grey frame (train.grey_head; none under a threshold of 0)."""
    name = output or session.get_outputs()[1].name
    out, flags = [], []
    for start in tqdm(range(0, len(samples), batch), desc=desc, unit="batch", leave=False):
        images = [read_image(s.path) for s in samples[start : start + batch]]
        if per_photo is not None:
            views = per_photo[start : start + batch]
            images = [view(image) for view, image in zip(views, images, strict=True)]
        if augment is not None:
            images = [augment(image) for image in images]
        tensor = preprocess(images, metadata.preprocess, "bgr")
        out.append(session.run([name], {"image": tensor})[0])
        flags.append(grey_rows(tensor, grey_threshold).astype(np.float32))
    width = session.get_outputs()[1].shape[-1]
    if not out:
        return np.zeros((0, width or 0), np.float32), np.zeros(0, np.float32)
    return np.concatenate(out), np.concatenate(flags)


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
    delta: GreyDelta | None = None,
    flags: np.ndarray | None = None,
    base: np.ndarray | None = None,
    apart: GreyFit | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted cross-entropy with a pull towards `start`; full-batch AdamW, cosine schedule.
    With a grey head (`delta`), the rows `flags` marks grey are fitted with its correction added,
    as the file will read them; with `apart`, they train that correction alone (GreyFit, read
    back with `apart.fitted()`). With `options.head_distill`, the rows `base` marks also keep the
    start head's softened answers (train.tail_fit.distill_loss), weighed as their labels are."""
    torch.manual_seed(options.seed)
    w0, b0 = (torch.from_numpy(np.asarray(a, np.float32)) for a in start)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
    wt = torch.from_numpy((weights / weights.sum()).astype(np.float32))
    flagt = None if flags is None else torch.from_numpy(flags.astype(np.float32))
    keep = torch.from_numpy(np.asarray(base if base is not None else [False] * len(x), bool))
    # the start head's logits of the base rows (w0, b0 need no gradient)
    teacher = (
        fitting_logits(xt, w0, b0, delta, flagt)[keep]
        if options.head_distill and keep.any()
        else None
    )
    params = [w, b, *(apart.params() if apart is not None else [])]
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / options.steps))
    )
    for step in range(options.steps):
        logits = fitting_logits(xt, w, b, delta, flagt, apart)
        loss = torch.nn.functional.cross_entropy(
            logits, yt, reduction="none", label_smoothing=options.label_smoothing
        )
        loss = (loss * wt).sum()
        if teacher is not None:
            kl = distill_loss(logits[keep], teacher)
            loss = loss + options.head_distill * (kl * wt[keep]).sum()
        loss = loss + options.anchor * ((w - w0) ** 2).sum()
        if apart is not None:
            loss = loss + options.anchor * apart.pull()
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == options.steps - 1:
            log.info("head step %d: loss %.4f", step, loss.item())
    return w.detach().numpy(), b.detach().numpy()


def category_balance(categories: Sequence[object], power: float) -> np.ndarray:
    """Per photo: (photos / (categories × its category's photos)) ** power, the mean 1: at
    power 1 each category of the reviews weighs the same in all, at 0 each photo does."""
    counts = Counter(categories)
    share = np.array([len(categories) / (len(counts) * counts[c]) for c in categories])
    weights = share**power
    return np.asarray(weights / weights.mean()) if len(weights) else weights


def view_weights(
    has_close: np.ndarray, options: RetrainOptions, balance: np.ndarray | float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Each reviewed photo weighs `field_weight` (times its `balance`), split over its views:
    (the weight of each of its `field_views` whole views, per photo; of each close-up, per photo
    that has one). The close-up takes `close_up_share` of its photo's weight, or (negative) an
    even share."""
    total = options.field_weight * np.broadcast_to(balance, has_close.shape)
    views = options.field_views
    if options.close_up_share < 0:
        whole = total / (views + has_close)
        return whole, whole[has_close]
    share = options.close_up_share
    whole = total * np.where(has_close, 1 - share, 1.0) / views
    return whole, (total * share)[has_close]


def write_candidate(
    body: onnx.ModelProto,
    out: Path,
    weight: np.ndarray,
    bias: np.ndarray,
    metadata: ModelMetadata,
    calibration: Sequence[Sample | np.ndarray] | None = None,
) -> None:
    """The body with the new head; given `calibration`, quantized statically on those photos
    (the parent was a static int8 file: train.quantize.static_form)."""
    model = replace_head(body, weight, bias)
    if calibration is not None:
        static_form(model, out, calibration, metadata)
        return
    del model.metadata_props[:]
    embed_metadata(model, metadata)
    onnx.save(model, str(out))


def stamp(path: Path, metadata: ModelMetadata) -> None:
    """Replace a written candidate's metadata (its metrics known), the graph as it is."""
    model = onnx.load(str(path))
    embed_metadata(model, metadata)
    onnx.save(model, str(path))


def float_parent(active_path: Path, out: Path, metadata: ModelMetadata) -> Path:
    """A static int8 file's float graph (train.quantize.float_view), its features the retrain's
    to fit; removed when the candidate is written."""
    model = float_view(onnx.load(str(active_path)))
    embed_metadata(model, metadata.model_copy(update={"quantization": "none"}))
    onnx.save(model, str(out))
    return out


def candidate_form(quantization: str, mode: int) -> str:
    """The candidate's form and what its fit read (a static parent's: `mode`, the resolved
    `static_candidate`)."""
    if quantization != "int8-static":
        return f"{quantization}, as the parent"
    return {
        0: "int8-weights, fitted on the static parent's float graph",
        1: "int8-static again, fitted on the parent's float graph and calibrated anew",
        2: "int8-static, fitted in the parent's own graph (its int8 activations)",
    }[mode]


def fit_and_threshold(
    views: list[np.ndarray],
    val_y: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    labels: list[str],
    options: RetrainOptions,
    delta: GreyDelta | None = None,
    flags: Sequence[np.ndarray | float] = (),
) -> tuple[np.ndarray, np.ndarray, GreyDelta | None, float, Any]:
    """Refit the temperature on base val as it is and fold it into the head (and a grey head's
    correction, which the temperature was fitted with on the grey rows); choose the
    thresholds as `binwatch export` does, for the field: on base val as it is, as a night/IR
    camera sees it and placed on drawn floors (VIEWS, features in that order), together.
    `delta`: the model's grey correction, and `flags` per view the rows it applies to (as the
    file reads them: train.grey_head)."""
    from vision.taxonomy import load_profile

    flags = flags or [0.0] * len(views)
    temperature = fit_temperature(head_logits(views[0], weight, bias, delta, flags[0]), val_y)
    weight, bias = weight / temperature, bias / temperature
    if delta is not None:
        delta = GreyDelta(delta.weight / temperature, delta.bias / temperature, delta.threshold)
    national = load_profile("national")
    cats = list(Category)
    items = np.array([labels[t] != BACKGROUND for t in val_y], dtype=bool)
    cat = np.concatenate(
        [category_probs(softmax(head_logits(x, weight, bias, delta, f))[items], labels, national)
         for x, f in zip(views, flags, strict=True)]
    )  # fmt: skip
    truth = np.tile([cats.index(national.category_of(labels[t])) for t in val_y[items]],
                    len(views))  # fmt: skip
    thresholds = choose_thresholds(cat, truth, options.flag_precision, options.correct_precision,
                                   options.contamination_rate or None, options.lowered_flags,
                                   len(views))  # fmt: skip
    return weight, bias, delta, temperature, thresholds


def feature_session(
    active_path: Path, threads: int, cut: str | None = None
) -> ort.InferenceSession:
    """A session whose outputs are the logits, the head's features and (given) `cut`."""
    options = session_options(threads)
    model = with_features(onnx.load(str(active_path)))
    if cut is not None:
        model = with_outputs(model, [cut])
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def start_head(active_path: Path) -> tuple[np.ndarray, np.ndarray]:
    head = read_head(onnx.load(str(active_path)))
    return head.weight, head.bias


def _tag(cut: str | None) -> str:
    """A file-name-safe name for the cut tensor (feature cache)."""
    return "cut-" + hashlib.sha1(str(cut).encode()).hexdigest()[:12]


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
    `cache_dir`: keep the base photos' features there per model (train.feature_cache). With
    `options.refit`, a candidate that passed is fitted again on every review (train.refit)."""
    import json

    from train.refit import adopt_refit, refit_markdown

    report = _retrain_once(active_path, base_manifests, field_manifest, out, options, version,
                           limit, cache_dir)  # fmt: skip
    if not (options.refit and report["decision"]["passed"]):
        return report
    log.info("the candidate passed: fitting again on every reviewed photo (refit)")
    (out / "refit").mkdir(exist_ok=True)
    again = _retrain_once(active_path, base_manifests, field_manifest, out / "refit",
                          dataclasses.replace(options, field_holdout=0.0, refit=0),
                          report["candidate"]["model_version"], limit, cache_dir)  # fmt: skip
    report = adopt_refit(out, report, again, options.margin)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "report.md").write_text(
        markdown(report) + "\n" + refit_markdown(report["refit"], report["active"])
    )
    return report


def _retrain_once(
    active_path: Path,
    base_manifests: Sequence[Path],
    field_manifest: Path,
    out: Path,
    options: RetrainOptions,
    version: str | None = None,
    limit: int = 0,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """The recipe once, gated on its hold-out (`retrain`)."""
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
    every_train = base.split("train")
    base_train = _every(every_train, limit)
    # each base photo kept under `limit` stands for those it skipped, so the field images weigh
    # against the base as they do in the full retrain (a quick run is less precise, not another
    # recipe: with 400 base photos unscaled, 150 reviewed images outweighed them almost 2 to 1
    # and the base test dropped 0.7-1.2 points where the full retrain moves it 0.1-0.3)
    stands_for = len(every_train) / max(1, len(base_train))
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

    blocks = options.blocks_for(len(field_train))
    meta = active.metadata
    # a static int8 file is retrained in its own graph or through its float graph (step 5)
    static = meta.quantization == "int8-static"
    mode = options.static_mode()
    through_float = static and mode != 2
    if through_float and mode == 1 and has_grey_tail(onnx.load(str(active_path))):
        raise ModelError(
            "a file with a grey tail is not quantized again (static_candidate 1): its own graph "
            "(2, the default) or its float graph written with int8 weights (0)"
        )
    work_path = active_path
    if through_float:
        work_path = float_parent(active_path, out / "parent-float.onnx", meta)
    model = onnx.load(str(work_path))
    # a grey tail (train.grey_tail): the blocks are counted on the colour path; tuned blocks
    # that reach its switch train both copies, each row through the one the file takes for it
    tailed = has_grey_tail(model)
    cut = cut_for(drop_grey_tail(model) if tailed else model, blocks) if blocks else None
    session = feature_session(work_path, options.threads, cut)
    index = {label: i for i, label in enumerate(labels)}
    sha = sha256_of(active_path)
    # a static file's features in the form they were read (its int8 ones or its float graph's)
    # ("int8x": read with the kernels that do not saturate, vision.classifier.session_options;
    # a cache written before them on an x86 host without VNNI holds other numbers)
    read_as = f"{sha}-{'float' if through_float else 'int8x'}" if static else sha
    caches: dict[tuple[str, bool], FeatureCache | None] = {}

    def base_rows(
        samples: Sequence[Sample], desc: str, at_cut: bool = False, view: str = ""
    ) -> np.ndarray:
        """The head's features (or the activations at the cut) of the photos as they are, or
        as a `view` sees them (VIEWS), kept in the feature cache per model, view and tensor."""

        def compute(part: Sequence[Sample]) -> np.ndarray:
            augment = view_of(view)
            rows, _ = features_and_flags(session, part, meta, augment,
                                         f"{desc} {view}".strip(),
                                         output=cut if at_cut else None)  # fmt: skip
            return rows.astype(np.float16) if at_cut else rows

        if cache_dir is not None and (view, at_cut) not in caches:
            tag = "-".join(t for t in (view, _tag(cut) if at_cut else "") if t)
            caches[view, at_cut] = FeatureCache(cache_dir, read_as, tag, np.float16 if at_cut
                                                else np.float32)  # fmt: skip
        store = caches.get((view, at_cut))
        return compute(samples) if store is None else store.features(samples, compute)

    delta = read_grey_head(model)
    threshold = 0.0 if delta is None else delta.threshold

    def grey_flags(samples: Sequence[Sample], view: str = "") -> np.ndarray:
        """Which photos (as a `view` of VIEWS or TRAINING_VIEWS sees them: each draws from the
        photo itself, so the same again) the file reads with its grey correction, cached like
        the features."""

        def compute(part: Sequence[Sample]) -> np.ndarray:
            augment = view_of(view)
            return sample_flags(part, meta, threshold, augment)[:, None]

        if not samples:
            return np.zeros(0, np.float32)
        if cache_dir is None:
            return compute(samples)[:, 0]
        store = FeatureCache(cache_dir, sha, "-".join(t for t in ("grey", view) if t))
        return store.features(samples, compute)[:, 0]

    base_y = np.array([index[s.label] for s in base_train])
    # the head alone re-fits on the training's views too; tuned blocks on the photos as they are
    # (with the views they read the simulator's crops 94.5 % after 50 reviews a category, not
    # 95.4: bench/results/adapt-simulator-base-views.json)
    chosen = ["", *list(TRAINING_VIEWS)[: options.base_views - 1]] if not blocks else [""]
    # each photo weighs `stands_for` over its views; base labels weigh equally, as in training
    base_w = balanced_weights(base_y, len(labels)) * stands_for / len(chosen)
    parts_x = [base_rows(base_train, "base train", bool(blocks), view) for view in chosen]
    parts_y, parts_w = [base_y] * len(chosen), [base_w] * len(chosen)
    # with a grey head, the rows the file reads as grey frames train under its correction
    grey_fit = delta is not None and options.grey_in_fit == 1
    parts_g = [grey_flags(base_train, view) for view in chosen] if grey_fit else []
    field_threshold = threshold if grey_fit else 0.0
    # a reviewed photo `binwatch classify` also reads close up (a small item the ground or the
    # active model's activations place) trains on that close-up too, so a retrained model
    # reads the site both ways
    boxed = (
        close_up_boxes(field_train, active if options.close_ups == 2 else None)
        if options.close_ups
        else []
    )
    closer = [s for s, _ in boxed]
    chosen_close = {s.path for s in closer}
    has_close = np.array([s.path in chosen_close for s in field_train], bool)
    balance = category_balance([s.category for s in field_train], options.field_balance)
    field_w, close_w = view_weights(has_close, options, balance)
    for view in range(options.field_views):
        augment = None if view == 0 else field_augmenter(options.seed + view)
        if augment is not None and grey_fit and options.keep_grey:
            augment = stays_grey(augment, meta, threshold)
        rows, grey = features_and_flags(session, field_train, meta, augment,
                                        f"field view {view}", output=cut,
                                        grey_threshold=field_threshold)  # fmt: skip
        parts_x.append(rows.astype(np.float16) if blocks else rows)
        parts_y.append(np.array([index[s.label] for s in field_train]))
        parts_w.append(field_w)
        parts_g.append(grey)
    if closer:
        views = [boxed_view(box) for _, box in boxed]
        rows, grey = features_and_flags(session, closer, meta, None, "field close-ups",
                                        output=cut, grey_threshold=field_threshold,
                                        per_photo=views)  # fmt: skip
        parts_x.append(rows.astype(np.float16) if blocks else rows)
        parts_y.append(np.array([index[s.label] for s in closer]))
        parts_w.append(close_w)
        parts_g.append(grey)
    x, y, w = np.concatenate(parts_x), np.concatenate(parts_y), np.concatenate(parts_w)
    flags = np.concatenate(parts_g) if grey_fit else None
    grey_delta = delta if grey_fit else None
    apart = GreyFit(delta) if grey_fit and delta is not None and options.grey_apart else None
    candidate_test_x: np.ndarray | None = None
    base_rows_mask = np.arange(len(x)) < sum(len(part) for part in parts_x[: len(chosen)])
    val_flags = [grey_flags(base_val, view) for view in VIEWS] if delta is not None else []
    tuned_grey = False  # a grey tail's copy tuned too (the blocks reach its switch)
    if cut is not None:
        tail = TailModule(model, cut, GREY_FLAG if tailed else None)
        tuned_grey = tail.flag is not None
        if tail.flag is not None and flags is None:
            raise ModelError("a grey tail's blocks train with each row's grey flag: grey_in_fit 1")
        tail_options = TailOptions(steps=options.tail_steps, batch=options.tail_batch,
                                   lr=options.lr, tail_lr=options.tail_lr, anchor=options.anchor,
                                   tail_anchor=options.tail_anchor, seed=options.seed,
                                   label_smoothing=options.label_smoothing,
                                   distill=options.distill,
                                   keep_features=options.keep_features)  # fmt: skip
        weight, bias = soup(tail, options.soup, lambda seed: train_tail(
            tail, start_head(work_path), x, y, w, dataclasses.replace(tail_options, seed=seed),
            grey_delta, flags, base_rows_mask, apart), options.seed)  # fmt: skip
        body = write_tail(model, tail)  # the tail holds what the file holds (int8 weights again)
        val_x = [tail_features(tail, base_rows(base_val, "base val", True, v),
                               val_flags[n] if tail.flag else None)
                 for n, v in enumerate(VIEWS)]  # fmt: skip
        candidate_test_x = tail_features(tail, base_rows(base_test, "base test", True),
                                         grey_flags(base_test) if tail.flag else None)  # fmt: skip
    else:
        weight, bias = train_head(x, y, w, start_head(work_path), options, grey_delta, flags,
                                  base_rows_mask, apart)  # fmt: skip
        body = model
        val_x = [base_rows(base_val, "base val", False, v) for v in VIEWS]
    for store in caches.values():
        if store is not None:
            log.info("feature cache %s: %d photos found, %d computed", store.path, store.hits,
                     store.misses)  # fmt: skip
    val_y = np.array([index[s.label] for s in base_val])
    if apart is not None:  # the candidate reads grey frames with the correction it trained
        delta = apart.fitted()

    weight, bias, tempered, temperature, thresholds = fit_and_threshold(
        val_x, val_y, weight, bias, labels, options, delta, val_flags
    )
    if tempered is not None:  # the candidate's grey correction, at the candidate's temperature
        body = add_grey_head(body, tempered)
    thresholds = thresholds.model_copy(update={"background": meta.thresholds.background})

    version = version or f"{meta.model_version}-r{datetime.now(UTC):%Y%m%d%H%M}"
    field_ref = {"name": "field-reviewed", "sha256": sha256_of(field_manifest),
                 "rows": len(field.samples)}  # fmt: skip
    recipe = {
        "retrained_from": meta.model_version,
        "method": (
            f"the last {blocks} blocks (rebuilt from the ONNX file) and the head"
            if blocks
            else "head fine-tune on the active model's features"
        ),
        "tuned_blocks": blocks,
        "cut": cut,
        **(
            {"grey_tail": "tuned with the blocks" if tuned_grey else "kept as it was"}
            if tailed
            else {}
        ),
        "form": candidate_form(meta.quantization, mode),
        "options": options.__dict__,
        "field_train_images": len(field_train),
        "field_holdout_images": len(field_test),
        "base_train_images": len(base_train),
        "base_photo_weight": stands_for,
        "base_views": len(chosen),
        "field_close_ups": len(closer),
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
    calibration = None
    if through_float and mode == 1:
        calibration = field_calibration(calibration_photos(base_train, field_train))
    elif through_float:  # the float graph, fitted as it is, in the int8-weights form
        body = weights_form(body)
        candidate_meta = candidate_meta.model_copy(update={"quantization": "int8-weights"})
    write_candidate(body, candidate_path, weight, bias, candidate_meta, calibration)
    test_flags = grey_flags(base_test) if delta is not None else None  # the candidate keeps it
    # int8 activations (or the float graph's), or a grey tail's second path: both files run
    # whole, as a camera
    if static or tailed:
        test_x: np.ndarray | None = None
        candidate_x: np.ndarray | None = None
    else:
        test_x = base_rows(base_test, "base test")
        candidate_x = test_x if candidate_test_x is None else candidate_test_x
    before = compare(active_path, base_test, field_test, test_x, test_flags)
    after = compare(candidate_path, base_test, field_test, candidate_x, test_flags)
    decision = verdict(before, after, options.margin)
    items = [s.label for s in base_test if s.category is not None]
    truth = [active.profile.category_of(label).value for label in items]
    changes = base_changes(items, truth,
                           before["base_test"].pop("answers", []),
                           after["base_test"].pop("answers", []))  # fmt: skip
    metrics = {
        "test_category_accuracy": after["base_test"]["category_accuracy"],
        "test_category_macro_recall": after["base_test"]["category_macro_recall"],
        "test_fine_accuracy": after["base_test"]["fine_accuracy"],
        "test_ece": after["base_test"]["ece"],
        "field_category_accuracy": after["field_holdout"].get("category_accuracy"),
        "field_log_loss": after["field_holdout"].get("log_loss"),
        "field_outcome_log_loss": after["field_holdout"].get("outcome_log_loss"),
        "parent_field_category_accuracy": before["field_holdout"].get("category_accuracy"),
        "parent_field_log_loss": before["field_holdout"].get("log_loss"),
        "parent_field_outcome_log_loss": before["field_holdout"].get("outcome_log_loss"),
    }
    final = candidate_meta.model_copy(
        update={
            "metrics": {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
        }
    )
    stamp(candidate_path, final)
    if through_float:
        (out / "parent-float.onnx").unlink()
    report = {
        "active": before,
        "candidate": after,
        "decision": decision,
        "base_test_changes": changes,
        "margin": options.margin,
        "field": {
            "reviewed_images": len(field.samples),
            "train": len(field_train),
            "held_back": len(field_test),
            "labels_the_model_lacks": unknown,
            "no_item_train": sum(s.label == BACKGROUND for s in field_train),
            # the share of those trained on the file reads as grey frames (a night/IR camera's)
            "train_grey_share": grey_share_of(model, meta, field_train),
        },
        "thresholds": thresholds.model_dump(),
        "recipe": recipe,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "report.md").write_text(markdown(report))
    return report
