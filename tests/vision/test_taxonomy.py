from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vision.errors import TaxonomyError
from vision.taxonomy import (
    BUILTIN_PROFILES,
    Category,
    check_labels,
    label_catalog,
    load_profile,
    parse_profile,
)

WASTE_V1_LABELS = [
    "paper", "cardboard", "carton", "glass", "metal", "plastic", "textile",
    "food_waste", "battery", "medicine", "cigarette", "residual",
]  # fmt: skip


def _national_data() -> dict[str, object]:
    text = (Path(__file__).resolve().parents[2] / "vision/data/profiles/national.yaml").read_text()
    data: dict[str, object] = yaml.safe_load(text)
    return data


def test_categories_have_chinese_names_and_colours() -> None:
    assert [(c.value, c.zh, c.colour) for c in Category] == [
        ("recyclable", "可回收物", "blue"),
        ("hazardous", "有害垃圾", "red"),
        ("kitchen", "厨余垃圾", "green"),
        ("other", "其他垃圾", "grey"),
    ]


def test_catalog_holds_the_waste_v1_labels_first() -> None:
    assert list(label_catalog())[:12] == WASTE_V1_LABELS


@pytest.mark.parametrize("name", BUILTIN_PROFILES)
def test_builtin_profiles_map_every_catalog_label(name: str) -> None:
    profile = load_profile(name)
    assert {label for label in label_catalog()} == set(profile.spec.labels)


@pytest.mark.parametrize(
    ("profile", "label", "category", "local_name"),
    [
        ("national", "food_waste", Category.KITCHEN, "厨余垃圾"),
        ("national", "alkaline_battery", Category.HAZARDOUS, "有害垃圾"),
        ("national", "cigarette", Category.OTHER, "其他垃圾"),
        ("shanghai", "food_waste", Category.KITCHEN, "湿垃圾"),
        ("shanghai", "alkaline_battery", Category.OTHER, "干垃圾"),
        ("shanghai", "bone", Category.OTHER, "干垃圾"),
        ("rural", "food_waste", Category.KITCHEN, "会烂的"),
        ("rural", "plastic", Category.RECYCLABLE, "好卖的"),
        ("rural", "residual", Category.OTHER, "不好卖的"),
    ],
)
def test_profiles_map_labels_to_local_categories(
    profile: str, label: str, category: Category, local_name: str
) -> None:
    loaded = load_profile(profile)
    assert loaded.category_of(label) is category
    assert loaded.names(category.value).zh == local_name


@pytest.mark.parametrize(
    ("profile", "bin_name", "code", "accepted"),
    [
        ("national", "kitchen", "kitchen", {Category.KITCHEN}),
        ("national", "可回收物", "recyclable", {Category.RECYCLABLE}),
        ("shanghai", "湿垃圾", "kitchen", {Category.KITCHEN}),
        ("shanghai", "Dry waste", "other", {Category.OTHER}),
        ("rural", "不会烂的", "does_not_rot",
         {Category.RECYCLABLE, Category.HAZARDOUS, Category.OTHER}),
        ("rural", "会烂的", "kitchen", {Category.KITCHEN}),
    ],
)  # fmt: skip
def test_bins_resolve_by_code_or_local_name(
    profile: str, bin_name: str, code: str, accepted: set[Category]
) -> None:
    loaded = load_profile(profile)
    assert loaded.resolve_bin(bin_name) == code
    assert loaded.accepted(code) == accepted


def test_rural_profile_has_two_passes() -> None:
    passes = load_profile("rural").spec.passes
    assert passes[0] == ("kitchen", "does_not_rot")
    assert sorted(passes[1]) == sorted(c.value for c in Category)


def test_unknown_bin_names_the_choices() -> None:
    with pytest.raises(TaxonomyError, match=r"unknown bin 'wet'.*kitchen"):
        load_profile("national").resolve_bin("wet")
    with pytest.raises(TaxonomyError, match="unknown bin 'does_not_rot'"):
        load_profile("national").accepted("does_not_rot")


def test_unknown_labels_are_named() -> None:
    with pytest.raises(TaxonomyError, match=r"unknown fine label.*: bicycle, sofa"):
        check_labels(["paper", "bicycle", "sofa"])
    data = _national_data()
    data["labels"] = {**data["labels"], "bicycle": "recyclable"}  # type: ignore[dict-item]
    with pytest.raises(TaxonomyError, match=r"city\.yaml: unknown fine label.*bicycle"):
        parse_profile(data, "city.yaml")


def test_profile_missing_a_label_names_it() -> None:
    data = _national_data()
    labels = dict(data["labels"])  # type: ignore[call-overload]
    del labels["bone"], labels["mask"]
    data["labels"] = labels
    with pytest.raises(TaxonomyError, match="without a category: bone, mask"):
        parse_profile(data, "city.yaml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"passes": [["recyclable", "kitchen", "other"]]}, "must split the four categories"),
        ({"passes": [["recyclable", "kitchen", "other", "hazardous", "kitchen"]]},
         "must split the four categories"),
        ({"passes": [["recyclable", "hazardous", "kitchen", "dry"]]}, "unknown bin 'dry'"),
        ({"groups": {"kitchen": {"zh": "x", "en": "x", "members": ["kitchen", "other"]}}},
         "reuse a category code"),
        ({"labels": {"paper": "compost"}}, "labels.paper"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_invalid_profiles_say_what_is_wrong(change: dict[str, object], message: str) -> None:
    data = {**_national_data(), **change}
    with pytest.raises(TaxonomyError, match=message):
        parse_profile(data, "city.yaml")


def test_profile_from_a_yaml_file(tmp_path: Path) -> None:
    data = _national_data()
    data["name"] = "hangzhou"
    data["categories"] = {**data["categories"], "kitchen": {"zh": "易腐垃圾", "en": "Perishable"}}  # type: ignore[dict-item]
    path = tmp_path / "hangzhou.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    profile = load_profile(path)
    assert profile.name == "hangzhou"
    assert profile.resolve_bin("易腐垃圾") == "kitchen"


def test_profile_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="unknown profile 'beijing'"):
        load_profile("beijing")
    with pytest.raises(TaxonomyError, match="cannot read profile"):
        load_profile(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_profile(broken)


def test_waste_v1_manifest_agrees_with_the_national_profile(
    waste_v1_rows: list[dict[str, str]],
) -> None:
    national = load_profile("national")
    check_labels({row["fine_label"] for row in waste_v1_rows})
    disagreeing = [
        row["path"]
        for row in waste_v1_rows
        if national.category_of(row["fine_label"]).value != row["category"]
    ]
    assert disagreeing == []
    assert len(waste_v1_rows) == 8101
