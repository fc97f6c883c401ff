"""Run a binwatch ONNX model with ONNX Runtime over batches of crops."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from vision.errors import ModelError
from vision.int8_kernels import PRECISE_KERNELS, default_int8_exact
from vision.item_map import ItemMapper
from vision.metadata import ModelMetadata, parse_metadata
from vision.prediction import Prediction
from vision.preprocess import ChannelOrder, Image, preprocess
from vision.taxonomy import Category, Profile, load_profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierOptions:
    threads: int = 1
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= 64:
            raise ValueError(f"threads must be in 1..64, got {self.threads}")
        if not 1 <= self.batch_size <= 1024:
            raise ValueError(f"batch_size must be in 1..1024, got {self.batch_size}")


def session_options(
    threads: int, fold_weights: bool = False, precise_int8: bool = True
) -> ort.SessionOptions:
    """ONNX Runtime's options as binwatch runs a model (every session over a binwatch file: the
    classifier, its item map, retraining's features), so a file reads the same everywhere.
    `precise_int8` False only for timing what exact sums cost (bench.inference)."""
    options = ort.SessionOptions()
    if fold_weights:  # dequantize int8 weights once, at load, instead of on every run
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    # x86 without VNNI: ONNX Runtime's default u8s8 int8 kernels saturate, its u8u8 ones do not
    # but cost 1.8 times the time where the default ones are exact (vision.int8_kernels)
    if precise_int8 and not default_int8_exact():
        options.add_session_config_entry(PRECISE_KERNELS, "1")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


def _open_session(path: Path, threads: int, fold_weights: bool = False) -> ort.InferenceSession:
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    options = session_options(threads, fold_weights)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({reason})") from exc


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


class Classifier:
    """A loaded binwatch model: refuses files without valid metadata or with the wrong shape."""

    def __init__(
        self,
        path: str | Path,
        options: ClassifierOptions | None = None,
        profile: Profile | str | None = None,
    ) -> None:
        self.path = Path(path)
        self.options = options or ClassifierOptions()
        self._session = _open_session(self.path, self.options.threads)
        meta_map = self._session.get_modelmeta().custom_metadata_map
        self.metadata: ModelMetadata = parse_metadata(meta_map, str(self.path))
        if self.metadata.quantization == "int8-weights":
            self._session = _open_session(self.path, self.options.threads, fold_weights=True)
        chosen = profile if profile is not None else self.metadata.profile
        self.profile = chosen if isinstance(chosen, Profile) else load_profile(chosen)
        self._items = [i for i, lb in enumerate(self.labels) if lb not in self.metadata.reserved]
        self._categories = [self.profile.category_of(self.labels[i]) for i in self._items]
        self._background = self.metadata.background_index
        self._input_name, self._fixed_batch = self._check_input()
        self._check_output()
        log.info(
            "loaded model %s (%s, %d labels, profile %s) from %s",
            self.metadata.model_version,
            self.metadata.architecture,
            len(self.metadata.labels),
            self.profile.name,
            self.path,
        )

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    def _check_input(self) -> tuple[str, int | None]:
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{self.path}: expected one input, the model has {len(inputs)}")
        shape = list(inputs[0].shape)
        height, width = self.metadata.preprocess.input_size
        if inputs[0].type != "tensor(float)":
            raise ModelError(f"{self.path}: expected a float32 input, got {inputs[0].type}")
        if len(shape) != 4:
            raise ModelError(f"{self.path}: expected an N×3×H×W input, got shape {shape}")
        for axis, want in ((1, 3), (2, height), (3, width)):
            if isinstance(shape[axis], int) and shape[axis] != want:
                raise ModelError(
                    f"{self.path}: input shape {shape} disagrees with the metadata's "
                    f"3×{height}×{width}"
                )
        fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        return inputs[0].name, fixed

    def _check_output(self) -> None:
        outputs = self._session.get_outputs()
        if len(outputs) != 1:
            raise ModelError(f"{self.path}: expected one output, the model has {len(outputs)}")
        height, width = self.metadata.preprocess.input_size
        probe = np.zeros((self._fixed_batch or 1, 3, height, width), dtype=np.float32)
        try:
            result = self._session.run(None, {self._input_name: probe})[0]
        except Exception as exc:
            raise ModelError(f"{self.path}: the model fails on a blank input ({exc})") from exc
        result = np.asarray(result)
        if result.ndim != 2 or result.shape[1] != len(self.labels):
            raise ModelError(
                f"{self.path}: the model outputs shape {list(result.shape)} but its metadata "
                f"lists {len(self.labels)} labels (expected N×{len(self.labels)})"
            )

    def probabilities(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Class probabilities for a preprocessed N×3×H×W batch."""
        chunk = self._fixed_batch or self.options.batch_size
        parts = []
        for start in range(0, len(tensor), chunk):
            part = tensor[start : start + chunk]
            out = self._session.run(None, {self._input_name: self._padded(part)})[0]
            parts.append(np.asarray(out, np.float32)[: len(part)])
        scores = np.concatenate(parts)
        if self.metadata.output == "logits":
            return _softmax(scores)
        return scores

    def _padded(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """A batch padded with zeros to a fixed-batch model's size (no change otherwise)."""
        if not self._fixed_batch or len(tensor) >= self._fixed_batch:
            return tensor
        padding = np.zeros((self._fixed_batch - len(tensor), *tensor.shape[1:]), np.float32)
        return np.concatenate([tensor, padding])

    @cached_property
    def _mapper(self) -> ItemMapper | None:
        """Built when first asked for (`classify_with_maps`); None: this model has none."""
        fold = self.metadata.quantization == "int8-weights"
        return ItemMapper.open(
            self.path, self._background, session_options(self.options.threads, fold)
        )

    def item_maps(
        self, images: Sequence[Image], order: ChannelOrder = "bgr"
    ) -> list[npt.NDArray[np.float32] | None]:
        """Where the model sees an item in each image: its last feature map's cells, each one's
        best item logit less its "no item" logit (vision.item_map). None for every image where
        the model has no `background` output or a graph the mapper cannot read."""
        return self.classify_with_maps(images, order)[1]

    def classify_with_maps(
        self, images: Sequence[Image], order: ChannelOrder = "bgr"
    ) -> tuple[list[Prediction], list[npt.NDArray[np.float32] | None]]:
        """`classify` and `item_maps` in one pass (the mapper's graph is the model's, so the
        predictions are `classify`'s)."""
        mapper = self._mapper
        if mapper is None:
            return self.classify(images, order), [None] * len(images)
        chunk = self._fixed_batch or self.options.batch_size
        predictions: list[Prediction] = []
        maps: list[npt.NDArray[np.float32] | None] = []
        for batch in _chunks(images, chunk):
            tensor = self._padded(preprocess(batch, self.metadata.preprocess, order))
            try:
                scores, margins = mapper.run(tensor)
            except Exception as exc:  # onnxruntime raises several unrelated types
                log.warning("%s: item maps off (%s); reading as before", self.path, exc)
                self._mapper = None
                return self.classify(images, order), [None] * len(images)
            scores = scores[: len(batch)]
            probs = _softmax(scores) if self.metadata.output == "logits" else scores
            predictions += [self._predict(row) for row in probs]
            maps += margins[: len(batch)]
        return predictions, maps

    def classify(self, images: Sequence[Image], order: ChannelOrder = "bgr") -> list[Prediction]:
        """Predictions for uint8 crops (BGR as OpenCV reads them, or RGB), in input order."""
        return self.classify_views([[image] for image in images], order)

    def classify_views(
        self, views: Sequence[Sequence[Image]], order: ChannelOrder = "bgr"
    ) -> list[Prediction]:
        """One prediction per item from several images of it (settled frames, a mirror image):
        the mean of their probabilities, read as one crop's would be."""
        flat = [image for item in views for image in item]
        if any(not item for item in views):
            raise ValueError("every item needs at least one image")
        probs = []
        for batch in _chunks(flat, self.options.batch_size):
            probs.append(self.probabilities(preprocess(batch, self.metadata.preprocess, order)))
        rows = np.concatenate(probs) if probs else np.zeros((0, len(self.labels)), np.float32)
        out, start = [], 0
        for item in views:
            out.append(self._predict(rows[start : start + len(item)].mean(axis=0)))
            start += len(item)
        return out

    def what_it_is(
        self, whole: Prediction, close_ups: Sequence[Prediction], close_up_weight: float = 0.5
    ) -> Prediction:
        """`whole`'s reading of whether there is an item (its `background`), with what the item
        is read from it and its close-ups together: a weighted mean of their item probabilities,
        each renormalised over the item outputs (a close-up's own "no item" share is left out),
        the close-ups sharing `close_up_weight` and the whole photo the rest."""
        if not 0 <= close_up_weight <= 1:
            raise ValueError(f"close_up_weight is 0 to 1, not {close_up_weight}")
        share = close_up_weight / len(close_ups) if close_ups else 0.0
        weights = [1.0 - share * len(close_ups)] + [share] * len(close_ups)
        items = np.average(
            [p.probabilities[self._items] / max(float(p.probabilities[self._items].sum()), 1e-12)
             for p in (whole, *close_ups)],
            axis=0,
            weights=weights,
        )  # fmt: skip
        probabilities = np.zeros_like(whole.probabilities)
        probabilities[self._items] = items * (1.0 - whole.background)
        if self._background is not None:
            probabilities[self._background] = whole.background
        return self._predict(probabilities)

    def _predict(self, probabilities: npt.NDArray[np.float32]) -> Prediction:
        background = 0.0 if self._background is None else float(probabilities[self._background])
        items = probabilities[self._items].astype(np.float64)
        items = items / max(float(items.sum()), 1e-12)  # what it is, if it is an item
        by_category = dict.fromkeys(Category, 0.0)
        for category, p in zip(self._categories, items, strict=True):
            by_category[category] += float(p)
        top = int(np.argmax(items))
        return Prediction(
            label=self.labels[self._items[top]],
            category=self._categories[top],
            confidence=min(1.0, max(0.0, float(items[top]))),
            category_probabilities=by_category,
            probabilities=probabilities,
            background=min(1.0, max(0.0, background)),
            is_background=self._background is not None
            and background >= self.metadata.thresholds.background,
        )


def _chunks(items: Sequence[Image], size: int) -> Iterator[Sequence[Image]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
