"""The views retraining reads photos through: reviewed crops augmented (`field_augmenter`; a grey
frame's views kept grey, `stays_grey`), base val as the export's thresholds read it (`VIEWS`),
base train as training drew its views (`TRAINING_VIEWS`), and the close-up `binwatch classify`
reads besides a whole frame (`close_up_boxes`: where the ground or the active model's
activations place the item, vision.zoom; `close_up`, the ground's alone). The base photos'
views are seeded by the photo itself, so their cached features are the same every run."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from train.augment import SMALL_SHARE, field_view_augmenter, flat_grey, make_augmenter, night_check
from train.grey_head import grey_rows
from train.manifest import Sample
from vision.classifier import Classifier
from vision.imageio import read_image
from vision.metadata import ModelMetadata
from vision.prediction import Box
from vision.preprocess import preprocess
from vision.zoom import find_item, read_photos, zoom_crop


def field_augmenter(seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Field crops are photos of the bin already: colour, blur and geometry, no new background."""
    return make_augmenter(seed, place_probability=0.0)


def stays_grey(
    augment: Callable[[np.ndarray], np.ndarray], metadata: ModelMetadata, threshold: float
) -> Callable[[np.ndarray], np.ndarray]:
    """`augment`, but a photo the grey head reads as a grey frame (train.grey_head) keeps its
    views grey: a night camera sends grey frames whatever the light, and the augmentation's
    colour casts and per-channel noise would turn a reviewed night frame into colour views
    that the file reads without the correction and the site never sends."""

    def view(image: np.ndarray) -> np.ndarray:
        out = augment(image)
        if not grey_rows(preprocess([image], metadata.preprocess, "bgr"), threshold)[0]:
            return out
        return flat_grey(out, 1.0, 0.0)  # plain grey: contrast and brightness as drawn

    return view


def _photo_seed(image: np.ndarray) -> int:
    """A seed drawn from the photo itself, so its view (and cached features) is the same every
    run."""
    return zlib.crc32(np.ascontiguousarray(image[::4, ::4]).tobytes())


def field_view(image: np.ndarray) -> np.ndarray:
    """The val photo placed on a drawn floor and augmented as the export's threshold view does,
    seeded by the photo itself."""
    return field_view_augmenter(_photo_seed(image))(image)


def training_view(draw: int) -> Callable[[np.ndarray], np.ndarray]:
    """A base photo augmented as training draws its views (placed on a floor seven times in ten,
    a tenth of those small: `make_augmenter`'s defaults), seeded by the photo and `draw`."""

    def view(image: np.ndarray) -> np.ndarray:
        return make_augmenter(_photo_seed(image) + 7919 * draw)(image)

    return view


# the views thresholds are chosen on: as they are, as a night/IR camera sees them, placed
VIEWS: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {
    "": None,
    "night": night_check,
    "placed": field_view,
}
# the views of base train the head re-fits on besides the photos as they are: the head learned
# from such views, and re-fitted on plain photos alone it drifts (lite0-waste-2.8: base test
# accuracy 0.7-1.2 points lower after a head-only retrain, the gate refusing 2 of 8 draws;
# `python -m bench.gatenoise`); the tag names the draw recipe, so a changed recipe is a new cache
TRAINING_VIEWS = {f"train{draw}-small{SMALL_SHARE:g}": training_view(draw) for draw in range(1, 4)}


def view_of(name: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """The view a feature-cache tag names: one of VIEWS or of TRAINING_VIEWS."""
    return VIEWS[name] if name in VIEWS else TRAINING_VIEWS[name]


def close_up(image: np.ndarray) -> np.ndarray | None:
    """The close-up `binwatch classify` reads besides the whole photo (vision.zoom), or None."""
    box = find_item(image)
    return None if box is None else zoom_crop(image, box)


def close_up_boxes(
    samples: Sequence[Sample], classifier: Classifier | None = None, batch: int = 32
) -> list[tuple[Sample, Box]]:
    """The samples whose photo `binwatch classify` also reads close up, each with the box it
    reads: where the ground places a small item (`find_item`, as `close_up`) and, given the
    model that reads them (`classifier`), where its own activations place one on a ground
    that gives no box (vision.zoom.read_photos, `located_by` "activation")."""
    out: list[tuple[Sample, Box]] = []
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        images = [read_image(s.path) for s in chunk]
        readings = read_photos(classifier, images) if classifier is not None else []
        for n, (sample, image) in enumerate(zip(chunk, images, strict=True)):
            box = find_item(image)
            if box is not None and zoom_crop(image, box) is not None:
                out.append((sample, box))
            elif readings and readings[n].located_by == "activation":
                placed = readings[n].item_box
                if placed is not None:
                    out.append((sample, placed))
    return out


def boxed_view(box: Box) -> Callable[[np.ndarray], np.ndarray]:
    """A photo's close-up round `box` (`close_up_boxes` found it there: the same photo gives
    the same square)."""

    def view(image: np.ndarray) -> np.ndarray:
        crop = zoom_crop(image, box)
        if crop is None:
            raise ValueError(f"no close-up round {box} in a photo chosen for one")
        return crop

    return view
