from __future__ import annotations

import numpy as np

from train.augment import draw_background, item_mask, make_augmenter, place_on_background


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
