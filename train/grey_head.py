"""A second reading for grey frames: what the head adds when the camera has no colour.

A night/IR camera sends grey frames, and a head trained on colour and grey views together
compromises between them: on the simulator's crops made grey it lost 10 points of macro recall
that a head fitted to grey views alone wins back half of (models/README.md, "Grey frames"). The
body's features are the same; only how they are weighed differs.

So the model file carries a correction, used only where the frame is grey: the graph measures
how far the input's three channels spread (their max minus min, averaged over every `STRIDE`-th
row and column), and where that is under `GREY_LEVELS` grey levels (a grey frame's channels are
equal; a JPEG of one differs by a level at most) it adds `features @ delta_w.T + delta_b` to the
head's logits. Colour frames read exactly as before. The correction is the grey head's
difference from the colour head, fitted once on grey views of the training photos (`fit_delta`,
pulled towards zero so it moves only as far as grey asks); a retrain refits the colour head
(train.head finds it behind the correction) with the grey rows read under the correction, and
keeps the correction at the candidate's temperature (train.retrain).

`--close-up-views N` adds N grey close-ups of each training item to the views the correction is
fitted on: the item placed small on a drawn ground, the frame made grey, and the square round the
item that `binwatch classify` reads close up (vision.zoom), so the correction also sees an item
at the few pixels a camera frame gives it. Built and measured, not used for the shipped file
(models/README.md, "Grey close-ups in the grey correction").

    python -m train.grey_head --model models/binwatch.onnx --manifest ... --manifest ... \\
        --version lite0-waste-2.9 --out models/binwatch.onnx
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from train.augment import draw_background, flat_grey, make_augmenter, night_frame, place_item
from train.background import make_backgrounds
from train.export import git_commit
from train.graph import prune
from train.head import GREY_ADD, Head, _gemm, read_head, with_features
from train.manifest import Sample, load_manifests
from train.metrics import summary
from vision.classifier import session_options
from vision.errors import ModelError
from vision.imageio import read_image
from vision.metadata import BACKGROUND, ModelMetadata, embed_metadata, parse_metadata
from vision.prediction import Box
from vision.preprocess import Image, preprocess
from vision.zoom import zoom_crop

log = logging.getLogger(__name__)
Array = npt.NDArray[np.float32]

GREY_LEVELS = 2.0  # mean channel spread (0..255 levels) under which a frame is grey
STRIDE = 4  # the spread is averaged over every 4th row and column (a full-size pass cost 0.9 ms)
SLICE = ("starts", "ends", "axes", "steps")
DELTA_W, DELTA_B = "classifier.grey_delta.weight", "classifier.grey_delta.bias"
COLOUR_LOGITS = "logits.colour"
PULL = 0.01  # L2 pull of the grey head towards the colour head (chosen on base val, below)
STEPS = 300
GREY_SHARE = 0.6  # of the grey views: a flat night frame; the rest plain grey
# a close-up view's item: its longest side this share of the frame it lies in, before the
# close-up (vision.zoom) reads it at `fill` of its own side
CLOSE_UP_SIZE = (0.15, 0.5)


@dataclass(frozen=True)
class GreyDelta:
    weight: Array  # classes × F, added to the head's weight on grey frames
    bias: Array  # classes
    threshold: float  # the mean channel spread under which a frame is grey (the tensor's scale)


def _spread_threshold(metadata: ModelMetadata) -> float:
    """`GREY_LEVELS` on the input tensor's scale; the normalisation must treat the three
    channels alike, or a grey frame's planes would not be equal."""
    spec = metadata.preprocess
    if len(set(spec.mean)) != 1 or len(set(spec.std)) != 1:
        raise ModelError(
            f"a grey head needs one mean and std for all channels, the model has mean "
            f"{spec.mean} and std {spec.std}"
        )
    return GREY_LEVELS / (spec.std[0] * 255.0)


def grey_flag(
    image: str, threshold: float, prefix: str
) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto], str]:
    """The constants and nodes (every name starting with `prefix`) that compute, per frame of the
    input `image`, whether it is grey: its three channels' spread, averaged over every `STRIDE`-th
    row and column, under `threshold`. Returns them and the boolean output's name (N×1)."""
    constants = [
        numpy_helper.from_array(np.asarray(threshold, np.float32), f"{prefix}threshold"),
        *(numpy_helper.from_array(np.asarray(v, np.int64), f"{prefix}{k}")
          for k, v in (("starts", [0, 0]), ("ends", [2**62, 2**62]), ("axes", [2, 3]),
                       ("steps", [STRIDE, STRIDE]))),
    ]  # fmt: skip
    p = prefix
    nodes = [
        helper.make_node("Slice", [image, *(f"{p}{k}" for k in SLICE)], [f"{p}sample"]),
        helper.make_node("ReduceMax", [f"{p}sample"], [f"{p}max"], axes=[1], keepdims=1),
        helper.make_node("ReduceMin", [f"{p}sample"], [f"{p}min"], axes=[1], keepdims=1),
        helper.make_node("Sub", [f"{p}max", f"{p}min"], [f"{p}spread"]),
        helper.make_node("ReduceMean", [f"{p}spread"], [f"{p}mean"], axes=[2, 3], keepdims=0),
        helper.make_node("Less", [f"{p}mean", f"{p}threshold"], [f"{p}is"]),
    ]
    return constants, nodes, f"{p}is"


def add_grey_head(model: onnx.ModelProto, delta: GreyDelta) -> onnx.ModelProto:
    """A copy whose output adds `delta` to the head's logits where the input frame is grey (a
    model that has one has it replaced)."""
    out = drop_grey_head(model)
    graph = out.graph
    gemm = _gemm(out)
    image, logits = graph.input[0].name, gemm.output[0]
    gemm.output[0] = COLOUR_LOGITS
    constants, nodes, flag = grey_flag(image, delta.threshold, "grey.")
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.asarray(delta.weight, np.float32), DELTA_W),
            numpy_helper.from_array(np.asarray(delta.bias, np.float32), DELTA_B),
            *constants,
        ]
    )
    graph.node.extend(
        [
            *nodes,
            helper.make_node("Cast", [flag], ["grey.flag"], to=TensorProto.FLOAT),
            helper.make_node("Gemm", [gemm.input[0], DELTA_W, DELTA_B], ["grey.delta"], transB=1),
            helper.make_node("Mul", ["grey.delta", "grey.flag"], ["grey.term"]),
            helper.make_node("Add", [COLOUR_LOGITS, "grey.term"], [logits], name=GREY_ADD),
        ]
    )
    onnx.checker.check_model(out, full_check=True)
    return out


def drop_grey_head(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy without the grey correction (the same model when it has none)."""
    out = copy.deepcopy(model)
    graph = out.graph
    add = next((n for n in graph.node if n.name == GREY_ADD), None)
    if add is None:
        return out
    gemm = _gemm(out)
    logits = add.output[0]
    grey = [n for n in graph.node
            if n.name == GREY_ADD or any(o.startswith("grey.") for o in n.output)]  # fmt: skip
    for node in grey:
        graph.node.remove(node)
    gemm.output[0] = logits
    prune(graph, [DELTA_W, DELTA_B, *(f"grey.{k}" for k in ("threshold", *SLICE))])
    return out


def read_grey_head(model: onnx.ModelProto) -> GreyDelta | None:
    """The model's grey correction, or None."""
    if not any(n.name == GREY_ADD for n in model.graph.node):
        return None
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return GreyDelta(
        inits[DELTA_W].astype(np.float32),
        inits[DELTA_B].astype(np.float32),
        float(inits["grey.threshold"]),
    )


def grey_rows(tensor: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.bool_]:
    """Which rows of a preprocessed N×3×H×W batch the graph takes for grey frames."""
    sample = tensor[:, :, ::STRIDE, ::STRIDE]
    spread = sample.max(axis=1) - sample.min(axis=1)
    return np.asarray(spread.mean(axis=(1, 2)) < threshold)


def sample_flags(
    samples: Sequence[Sample], metadata: ModelMetadata, threshold: float,
    view: Callable[[Image], Image] | None = None, batch: int = 64,
) -> Array:  # fmt: skip
    """1.0 for each sample whose photo (as `view` sees it, when given: a view that draws from the
    photo itself draws the same again) the graph takes for a grey frame, else 0.0."""

    def image(sample: Sample) -> Image:
        photo = read_image(sample.path)
        return photo if view is None else view(photo)

    flags = []
    for start in range(0, len(samples), batch):
        images = [image(s) for s in samples[start : start + batch]]
        flags.append(grey_rows(preprocess(images, metadata.preprocess), threshold))
    return np.concatenate(flags).astype(np.float32) if flags else np.zeros(0, np.float32)


def head_logits(
    features: np.ndarray, weight: np.ndarray, bias: np.ndarray, delta: GreyDelta | None,
    flags: np.ndarray | float,
) -> np.ndarray:  # fmt: skip
    """What the file outputs for these head features: the head's logits, plus the grey
    correction on the rows `flags` marks grey (1.0; a scalar marks them all alike)."""
    logits: np.ndarray = features @ weight.T + bias
    if delta is not None:
        grey = np.broadcast_to(np.asarray(flags, np.float32).reshape(-1), (len(features),))
        logits = logits + grey[:, None] * (features @ delta.weight.T + delta.bias)
    return logits


def grey_term(
    features: torch.Tensor, delta: GreyDelta | None, flags: torch.Tensor | None
) -> torch.Tensor | float:
    """`head_logits`' grey correction in torch, for training a head (or blocks) under it: what
    the file adds to the logits of the rows `flags` marks grey (0.0 without a grey head)."""
    if delta is None or flags is None:
        return 0.0
    weight, bias = torch.from_numpy(delta.weight), torch.from_numpy(delta.bias)
    return flags[:, None] * (features @ weight.T + bias)


class GreyFit:
    """A grey correction trained apart from the colour head (retrain's `grey_apart`): the rows
    marked grey read the colour head as it stands, with no gradient to it, plus this
    correction, which alone learns from them (pulled towards where it started). So a night
    site's reviews move what the file reads grey frames with, and the colour head, which every
    colour frame reads, learns from colour rows only."""

    def __init__(self, delta: GreyDelta) -> None:
        self.start = delta
        self.weight = torch.tensor(delta.weight, dtype=torch.float32, requires_grad=True)
        self.bias = torch.tensor(delta.bias, dtype=torch.float32, requires_grad=True)

    def params(self) -> list[torch.Tensor]:
        return [self.weight, self.bias]

    def logits(
        self, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, flags: torch.Tensor
    ) -> torch.Tensor:
        """Colour rows: the colour head; grey rows (`flags` 1): the colour head held, plus the
        correction."""
        colour = features @ weight.T + bias
        held = features @ (weight.detach() + self.weight).T + bias.detach() + self.bias
        return torch.where(flags[:, None] > 0.5, held, colour)

    def pull(self) -> torch.Tensor:
        w0 = torch.from_numpy(np.asarray(self.start.weight, np.float32))
        return ((self.weight - w0) ** 2).sum()

    def fitted(self) -> GreyDelta:
        return GreyDelta(
            self.weight.detach().numpy().copy(),
            self.bias.detach().numpy().copy(),
            self.start.threshold,
        )


def fitting_logits(
    features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, delta: GreyDelta | None,
    flags: torch.Tensor | None, apart: GreyFit | None = None,
) -> torch.Tensor:  # fmt: skip
    """The logits a retrain fits a head (and blocks) on: the head plus, on the rows `flags`
    marks grey, the grey correction as the file adds it (grey_term), or with `apart` the
    correction trained apart from the head (GreyFit.logits)."""
    if apart is None:
        return features @ weight.T + bias + grey_term(features, delta, flags)
    if flags is None:
        raise ValueError("a grey correction trained apart needs each row's grey flag")
    return apart.logits(features, weight, bias, flags)


def fit_delta(
    features: Array, targets: npt.NDArray[np.int64], head: Head, pull: float = PULL,
    steps: int = STEPS,
) -> tuple[Array, Array]:  # fmt: skip
    """The grey head's difference from `head`: full-batch Adam on the class-balanced cross
    entropy of the grey views' features, from the colour head, with `pull` times the squared
    distance of the weight from it."""
    w0, b0 = torch.from_numpy(head.weight), torch.from_numpy(head.bias)
    x, y = torch.from_numpy(np.asarray(features, np.float32)), torch.from_numpy(targets)
    counts = torch.bincount(y, minlength=len(b0)).float()
    balance = counts.sum() / (len(b0) * counts.clamp(min=1))
    dw = torch.zeros_like(w0, requires_grad=True)
    db = torch.zeros_like(b0, requires_grad=True)
    optimizer = torch.optim.Adam([dw, db], lr=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        logits = x @ (w0 + dw).T + b0 + db
        loss = torch.nn.functional.cross_entropy(logits, y, weight=balance)
        (loss + pull * (dw**2).sum()).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return dw.detach().numpy(), db.detach().numpy()


def greyed(image: Image, rng: np.random.Generator) -> Image:
    """A grey view: a flat night/IR frame (`GREY_SHARE`) or the photo in plain grey."""
    if rng.random() < GREY_SHARE:
        return night_frame(image)
    return flat_grey(image, 1.0, 0.0)


def close_up_view(image: Image, rng: np.random.Generator) -> Image:
    """A grey close-up as `binwatch classify` reads a small item at night: the item placed
    small (`CLOSE_UP_SIZE`) on a drawn ground, the frame made grey (`greyed`), and the square
    round the item's box that vision.zoom reads (the item at its own resolution, enlarged).
    Where that square would not fit, the grey frame itself."""
    size = float(rng.uniform(*CLOSE_UP_SIZE))
    photo, (x, y, w, h) = place_item(image, rng, ground=draw_background, size=(size, size))
    grey = greyed(photo, rng)
    crop = zoom_crop(grey, Box(x=x, y=y, w=w, h=h))
    return grey if crop is None else crop


def grey_features(
    model: onnx.ModelProto, metadata: ModelMetadata, samples: Sequence[Sample], views: int,
    seed: int, threads: int = 2, close_ups: int = 0,
) -> tuple[Array, npt.NDArray[np.int64]]:  # fmt: skip
    """The head's input features of `views` grey field views of each sample (placed, lit and
    blurred as training draws them, then made grey) and of `close_ups` grey close-ups of it
    small on a drawn ground (`close_up_view`), and each view's output index."""
    from train.retrain import features_and_flags  # retrain reads this module: imported when used

    options = session_options(threads)
    session = ort.InferenceSession(
        with_features(model).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    augment, rng = make_augmenter(seed, night=False), np.random.default_rng(seed)

    def view(image: Image) -> Image:
        return greyed(augment(image), rng)

    def close(image: Image) -> Image:
        return close_up_view(image, rng)

    rows = [features_and_flags(session, samples, metadata, view, f"grey view {n + 1} of {views}",
                               64)[0]
            for n in range(views)]  # fmt: skip
    items = [s for s in samples if s.label != BACKGROUND]  # an empty crop has no item to place
    rows += [features_and_flags(session, items, metadata, close,
                                f"grey close-up {n + 1} of {close_ups}", 64)[0]
             for n in range(close_ups)]  # fmt: skip
    index = {label: i for i, label in enumerate(metadata.labels)}
    targets = np.concatenate([
        np.tile([index[s.label] for s in samples], views),
        np.tile([index[s.label] for s in items], close_ups),
    ]).astype(np.int64)  # fmt: skip
    return np.concatenate(rows), targets


def main() -> None:
    parser = step_parser(__doc__)
    parser.add_argument("--views", type=int, default=2, help="grey views of each train photo")
    parser.add_argument(
        "--close-up-views",
        type=int,
        default=0,
        help="grey close-ups of each train item placed small on a drawn ground",
    )
    parser.add_argument("--pull", type=float, default=PULL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.views < 1 or args.close_up_views < 0:
        parser.error("--views must be 1 or more and --close-up-views 0 or more")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.monotonic()
    loaded = onnx.load(str(args.model))
    meta = parse_metadata({p.key: p.value for p in loaded.metadata_props}, str(args.model))
    model = drop_grey_head(loaded)
    threshold = _spread_threshold(meta)
    manifests = load_manifests(args.manifest)
    with tempfile.TemporaryDirectory() as tmp:
        empty = make_backgrounds(manifests.samples, "train", Path(tmp) / "bg", args.seed)
        train = [*manifests.split("train"), *empty]
        x, y = grey_features(
            model, meta, train, args.views, args.seed, args.threads, args.close_up_views
        )
        empty_val = make_backgrounds(manifests.samples, "val", Path(tmp) / "bgv", args.seed)
        val = [*manifests.split("val"), *empty_val]
        val_x, val_y = grey_features(model, meta, val, 1, args.seed + 1, args.threads)
    head = read_head(model)
    delta = GreyDelta(*fit_delta(x, y, head, args.pull), threshold)
    before, after = (
        summary(val_y, head_logits(val_x, head.weight, head.bias, grey, 1.0).argmax(1),
                meta.labels)["macro_recall"]
        for grey in (None, delta)
    )  # fmt: skip
    log.info("base val, grey views, mean recall over outputs: %.4f -> %.4f", before, after)
    out = add_grey_head(model, delta)
    entry = {
        "from": meta.model_version, "views": args.views, "close_up_views": args.close_up_views,
        "close_up_size": list(CLOSE_UP_SIZE), "pull": args.pull, "steps": STEPS,
        "seed": args.seed, "grey_levels": GREY_LEVELS, "train_views": len(y),
        "val_grey_recall": [before, after], "seconds": round(time.monotonic() - started),
    }  # fmt: skip
    save_step(out, meta, args.version, "grey_head", entry, args.manifest, args.out)
    log.info("wrote %s (%s) in %.0f s", args.out, args.version, time.monotonic() - started)


def step_parser(
    doc: str | None, model_help: str = "a binwatch .onnx file"
) -> argparse.ArgumentParser:
    """The arguments every step from one file to the next takes (this module, `train.static_cli`,
    `train.thresholds_cli`, `train.grey_tail_fit`): the source, the file to write, its version
    and the manifests its test numbers are measured on again (`save_step`)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help=model_help)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", required=True, help="the new file's model version")
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    return parser


def save_step(
    model: onnx.ModelProto, source: ModelMetadata, version: str, step: str,
    entry: dict[str, object], manifests: Sequence[Path], path: Path, **changes: object,
) -> None:  # fmt: skip
    """Save `model` as `version`, one step on from the file `source` describes: `entry` (and
    the commit) added to its recipe under `step`, `changes` to its other metadata, and the test
    numbers measured again (`save_scored`)."""
    recipe = {**source.provenance.recipe, step: {**entry, "commit": git_commit()}}
    metadata = source.model_copy(update={
        "model_version": version, **changes,
        "provenance": source.provenance.model_copy(update={"recipe": recipe}),
    })  # fmt: skip
    save_scored(model, metadata, manifests, path)


def save_scored(
    model: onnx.ModelProto, metadata: ModelMetadata, manifests: Sequence[Path], path: Path
) -> None:
    """Save the model with its metadata's test numbers measured again on the file itself (the
    test split's grey photos now read with the correction; the held-out empty crops as export
    draws them). The export's comparisons of quantized forms are not carried over."""
    from train.evaluate import empty_rejection, predict, score, test_metrics
    from vision.classifier import Classifier

    path.parent.mkdir(parents=True, exist_ok=True)
    embed_metadata(model, metadata)
    onnx.save(model, str(path))
    classifier = Classifier(path)
    dataset = load_manifests(manifests)
    test, val = dataset.split("test"), dataset.split("val")
    metrics = test_metrics(score(classifier, test, predict(classifier, test)))
    metrics["val_category_macro_recall"] = score(classifier, val, predict(classifier, val))[
        "category"
    ]["macro_recall"]
    with tempfile.TemporaryDirectory() as tmp:
        empty = make_backgrounds(dataset.samples, "test", Path(tmp) / "empty", 0)
        metrics["test_empty_rejected"] = empty_rejection(classifier, empty)["rejected"]
    metrics = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    embed_metadata(model, metadata.model_copy(update={"metrics": metrics}))
    onnx.save(model, str(path))


if __name__ == "__main__":
    main()
