from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from train.augment import (
    draw_background,
    field_pipeline,
    item_mask,
    make_augmenter,
    night_frame,
    place_on_background,
    real_ground,
)


def studio_photo() -> np.ndarray:
    """A red item on a white studio sheet, as in TrashNet."""
    image = np.full((120, 160, 3), 245, np.uint8)
    image[30:90, 50:110] = (30, 30, 200)
    return image


def test_studio_background_is_cut_away() -> None:
    mask = item_mask(studio_photo())
    assert mask is not None
    assert mask[60, 80] > 0.95  # the item
    assert mask[5, 5] < 0.05  # the white sheet
    busy = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    assert item_mask(busy) is None  # a cluttered photo keeps its own background


def test_placed_item_sits_on_a_drawn_background() -> None:
    rng = np.random.default_rng(3)
    placed = place_on_background(studio_photo(), rng)
    assert placed.shape[0] == placed.shape[1] >= 160
    white = (placed > 235).all(axis=2).mean()
    red = ((placed[:, :, 2] > 150) & (placed[:, :, 0] < 80)).mean()
    assert white < 0.05  # the studio sheet is gone
    assert red > 0.05  # the item is there


def test_background_is_drawn_not_blank() -> None:
    background = draw_background(np.random.default_rng(1), 64, 96)
    assert background.shape == (64, 96, 3) and background.dtype == np.uint8
    assert background.std() > 2


def test_augmenter_is_seeded_and_changes_the_image() -> None:
    photo = studio_photo()
    first, again = make_augmenter(7)(photo), make_augmenter(7)(photo)
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.uint8 and first.ndim == 3
    assert not np.array_equal(make_augmenter(8)(photo), first)


def kraft_paper() -> np.ndarray:
    """A photo of empty ground: brown paper with a dark stain in one corner."""
    paper = np.full((80, 100, 3), (90, 140, 190), np.uint8)
    paper[:20, :20] = (20, 40, 90)
    return paper


def test_items_are_placed_on_real_grounds_too() -> None:
    drawn = real_ground([kraft_paper()])(np.random.default_rng(2), 150, 150)
    assert drawn.shape == (150, 150, 3) and drawn.dtype == np.uint8
    brownish = (np.abs(drawn.astype(int) - (90, 140, 190)).sum(axis=2) < 12).mean()
    assert brownish > 0.6  # mostly the paper, resized, turned or mirrored
    placed = make_augmenter(4, place_probability=1.0, grounds=[kraft_paper()], real_share=1.0)
    without = make_augmenter(4, place_probability=1.0)
    assert not np.array_equal(placed(studio_photo()), without(studio_photo()))


def test_night_frames_are_grey_and_cover_the_check() -> None:
    photo = np.random.default_rng(5).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    dark = night_frame(photo)
    assert np.array_equal(dark[..., 0], dark[..., 1]) and np.array_equal(dark[..., 1], dark[..., 2])
    assert dark.std() < 0.9 * photo.std()  # flat: contrast at most 0.9


def _grey(image: np.ndarray) -> bool:
    spread = image.astype(int).max(axis=2) - image.astype(int).min(axis=2)
    return bool(spread.max() <= 2)


def test_daylight_augmenter_never_makes_a_grey_frame() -> None:
    """The day half of a night pair (train --night-pairs) keeps its colour: its twin is the
    grey one. With night frames on, some views of the same photo do turn grey."""
    photo = studio_photo()
    day = [make_augmenter(seed, night=False)(photo) for seed in range(40)]
    assert not any(_grey(view) for view in day)
    assert any(_grey(make_augmenter(seed)(photo)) for seed in range(40))


def test_a_small_item_keeps_its_size_and_stays_clear_of_the_borders() -> None:
    """`size`: the item's longest side is that share of the frame's, away from the edges."""
    for seed in range(20):
        placed = place_on_background(studio_photo(), np.random.default_rng(seed), size=(0.2, 0.2))
        red = (placed[:, :, 2] > 150) & (placed[:, :, 0] < 80)
        rows, cols = np.nonzero(red)
        side = placed.shape[0]
        assert placed.shape == (side, side, 3) and side == 160  # the photo's own longest side
        # the red square is 60 of the photo's 160 px: 0.2 of the frame makes it 12 px
        assert 8 <= np.ptp(rows) + 1 <= 14 and 8 <= np.ptp(cols) + 1 <= 14
        edge = int(side * 0.12)
        assert rows.min() >= edge - 2 and cols.max() <= side - edge + 2


def test_small_placements_are_never_hidden_by_dropped_out_patches() -> None:
    def dropout(occlude: bool) -> float:
        [hole] = [t for t in field_pipeline(occlude=occlude).transforms
                  if type(t).__name__ == "CoarseDropout"]  # fmt: skip
        return float(hole.p)

    assert dropout(True) > 0 and dropout(False) == 0.0


@pytest.fixture
def placed_sizes(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The `size` of every `place_on_background` call from here on (None: the usual sizes)."""
    import train.augment as augment

    sizes: list[object] = []
    real = augment.place_on_background

    def spy(*args: Any, **kwargs: Any) -> np.ndarray:
        sizes.append(kwargs.get("size"))
        return real(*args, **kwargs)

    monkeypatch.setattr(augment, "place_on_background", spy)
    return sizes


def test_small_placements_are_off_at_0_and_drawn_when_asked(placed_sizes: list[object]) -> None:
    """A `small_share` of 0 (lite0-waste-2.5's recipe) never places an item small; 1 always does;
    the default (`SMALL_SHARE`, the shipped 2.8's) does for about that share of the placements."""
    import train.augment as augment

    sizes = placed_sizes
    make_augmenter(3, place_probability=1.0, small_share=0.0)(studio_photo())
    make_augmenter(3, place_probability=1.0, small_share=1.0)(studio_photo())
    assert sizes == [None, augment.SMALL_SIZE]
    sizes.clear()
    default = make_augmenter(4, place_probability=1.0)
    photo = studio_photo()
    for _ in range(60):
        default(photo)
    assert augment.SMALL_SHARE == 0.1 and 1 <= sizes.count(augment.SMALL_SIZE) <= 15


def test_threshold_views_place_items_at_the_usual_sizes(placed_sizes: list[object]) -> None:
    """Retrain chooses its thresholds on the views export chooses them on: placed at the usual
    sizes, never small, whatever the shipped recipe's `SMALL_SHARE`."""
    from train.views import field_view

    photo = studio_photo()
    for shade in range(40):
        photo[0, 0] = shade  # a new photo, so a new seed
        field_view(photo.copy())
    assert placed_sizes and set(placed_sizes) == {None}


def test_retrains_training_views_are_the_photos_own_and_drawn_as_training_draws(
    placed_sizes: list[object],
) -> None:
    """The views of base train a retrain re-fits the head on: the same for the same photo and
    draw (their features are cached), another for another draw, placed as training places
    (some small, at the recipe's `SMALL_SHARE`)."""
    import train.augment as augment
    from train.views import TRAINING_VIEWS, training_view

    photo = studio_photo()
    first, again, other = (
        training_view(1)(photo),
        training_view(1)(photo.copy()),
        training_view(2)(photo),
    )
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert next(iter(TRAINING_VIEWS)) == f"train1-small{augment.SMALL_SHARE:g}"
    placed_sizes.clear()
    for shade in range(100):
        photo[0, 0] = shade  # a new photo, so a new seed
        training_view(1)(photo.copy())
    assert 45 <= len(placed_sizes) <= 90  # seven in ten placed
    assert 1 <= placed_sizes.count(augment.SMALL_SIZE) <= 20  # a tenth of those small
