"""`bench/adapt.py` draws reviewed photos by whole groups (never a group on both sides of the
score) and compares retrain options it can name."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.adapt import draw, parse_recipe, recipe_name
from train.manifest import Sample
from vision.taxonomy import Category


def _site() -> list[Sample]:
    samples = []
    for category, label in ((Category.RECYCLABLE, "paper"), (Category.KITCHEN, "food_waste")):
        for group in range(8):
            for shot in range(3):  # three photos of one object: one group
                name = f"{label}-{group}-{shot}.jpg"
                samples.append(Sample(Path(name), "test", category, label, "site",
                                      f"{label}-{group}", "site"))  # fmt: skip
    return samples


def test_reviews_are_drawn_by_whole_groups_and_scored_on_the_rest() -> None:
    samples = _site()
    reviewed, rest = draw(samples, 5, seed=3)
    counts = {c: sum(s.category == c for s in reviewed) for c in (Category.RECYCLABLE,
                                                                  Category.KITCHEN)}  # fmt: skip
    assert counts == {Category.RECYCLABLE: 5, Category.KITCHEN: 5}
    assert not {s.group for s in reviewed} & {s.group for s in rest}
    # at most half of a category's groups are reviewed: K beyond that is capped
    many, left = draw(samples, 100, seed=3)
    assert len(many) == 2 * 4 * 3 and len(left) == 2 * 4 * 3
    assert draw(samples, 5, seed=3) == (reviewed, rest)  # the same seed, the same draw


def test_a_recipe_names_retrain_options() -> None:
    assert parse_recipe("default") == {} and recipe_name({}) == "default"
    recipe = parse_recipe("field_weight=15,anchor=0.003,steps=600")
    assert recipe == {"field_weight": 15.0, "anchor": 0.003, "steps": 600}
    assert isinstance(recipe["steps"], int)
    assert recipe_name(recipe) == "field_weight=15.0,anchor=0.003,steps=600"
    for wrong in ("fieldweight=3", "steps=1.5", "seed=2", "field_holdout=0.3", "anchor=lots"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_recipe(wrong)
