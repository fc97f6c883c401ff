"""The metadata every binwatch model carries inside its ONNX file.

It is stored as JSON under the `binwatch` key of the model's `metadata_props`, so a model file
describes itself: labels in output order, taxonomy profile, preprocessing, decision thresholds,
version, training provenance and metrics. A device refuses a model without it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from vision.errors import MetadataError, TaxonomyError, describe_validation_error
from vision.taxonomy import DEFAULT_PROFILE, Category, check_labels

METADATA_KEY = "binwatch"
# 2: `reserved` outputs (a `background` "no item" output) and the `background` threshold. A
# binwatch that knows only schema 1 refuses a schema-2 model instead of mapping its outputs wrong.
METADATA_SCHEMA_VERSION: Final = 2
KNOWN_SCHEMA_VERSIONS: Final = (1, 2)
# Outputs that are not taxonomy labels: no profile maps them, and they never become a category.
BACKGROUND: Final = "background"
RESERVED_OUTPUTS: Final = (BACKGROUND,)
PREPROCESS_VERSION: Final = 1

Probability = Annotated[float, Field(gt=0.5, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PreprocessSpec(_Strict):
    """How an image becomes the network's input (see vision.preprocess)."""

    version: Literal[1] = Field(PREPROCESS_VERSION, description="preprocessing algorithm version")
    input_size: tuple[
        Annotated[int, Field(ge=16, le=1024)], Annotated[int, Field(ge=16, le=1024)]
    ] = Field(description="network input (height, width) in pixels")
    resize: Literal["letterbox", "stretch", "center_crop"] = Field(
        "letterbox",
        description="letterbox keeps the whole image and pads; stretch ignores aspect; "
        "center_crop fills the input and cuts the longer side",
    )
    pad_value: Annotated[int, Field(ge=0, le=255)] = Field(128, description="letterbox padding")
    channels: Literal["rgb", "bgr"] = Field("rgb", description="channel order the network wants")
    mean: tuple[float, float, float] = Field(description="per-channel mean on the 0..1 scale")
    std: tuple[
        Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]
    ] = Field(description="per-channel standard deviation on the 0..1 scale")


class Thresholds(_Strict):
    """Decision thresholds for verdicts (see vision.verdict.judge_item for the rule).

    An item is `contaminated` when one category outside the bin reaches its own threshold on its
    own probability (`contaminated_by_category`, else `contaminated`), or, when none does, when
    the probability outside the bin taken together reaches `contaminated_outside` (default:
    `contaminated`); it is `correct` when P(it belongs) reaches `correct`, else `uncertain`.
    `correct`, `contaminated` and `contaminated_outside` are above 0.5, so those cannot both
    hold; a per-category threshold may be lower (a battery is worth flagging at 0.3), and then
    contamination is checked first.
    """

    correct: Probability = 0.6
    contaminated: Probability = 0.6
    contaminated_by_category: dict[Category, Annotated[float, Field(gt=0.0, le=1.0)]] = Field(
        default_factory=dict,
        description="stricter or looser thresholds on one outside category's own probability",
    )
    contaminated_outside: Probability | None = Field(
        None,
        description="threshold on the total probability outside the bin, when no single "
        "category reaches its own (default: `contaminated`)",
    )
    background: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.5,
        description="a crop whose `background` output reaches this holds no item (models "
        "with a background output only)",
    )

    def contamination_threshold(self, category: Category) -> float:
        return self.contaminated_by_category.get(category, self.contaminated)

    @property
    def outside_threshold(self) -> float:
        return self.contaminated if self.contaminated_outside is None else self.contaminated_outside


class DatasetRef(_Strict):
    name: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rows: int = Field(ge=0)


class Provenance(_Strict):
    """Where the model came from: data, code, recipe."""

    datasets: tuple[DatasetRef, ...] = ()
    commit: str | None = Field(None, description="git commit of the training code")
    trained_at: datetime | None = None
    recipe: dict[str, Any] = Field(default_factory=dict, description="resolved training arguments")


class ModelMetadata(_Strict):
    schema_version: Literal[1, 2] = METADATA_SCHEMA_VERSION
    model_version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
    architecture: str = Field(min_length=1)
    labels: tuple[str, ...] = Field(
        min_length=2, description="the outputs in order: fine labels, and any reserved output"
    )
    reserved: tuple[Literal["background"], ...] = Field(
        (),
        description="outputs in `labels` that are not taxonomy labels (`background`: the crop "
        "holds no item); schema 2",
    )
    profile: str = Field(
        DEFAULT_PROFILE, description="taxonomy profile the thresholds were set for"
    )
    output: Literal["logits", "probabilities"] = "logits"
    quantization: Literal["none", "int8-static", "int8-weights"] = Field(
        "none",
        description="int8-weights: int8 weight tensors that the runtime dequantizes once at load",
    )
    preprocess: PreprocessSpec
    thresholds: Thresholds = Thresholds()
    provenance: Provenance = Provenance()
    metrics: dict[str, FiniteFloat] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"repeated label(s): {', '.join(repeated)}")
        try:
            check_labels(label for label in labels if label not in RESERVED_OUTPUTS)
        except TaxonomyError as exc:
            raise ValueError(str(exc)) from None
        return labels

    @model_validator(mode="after")
    def _reserved_outputs(self) -> ModelMetadata:
        if self.reserved and self.schema_version < 2:
            raise ValueError("reserved outputs need schema_version 2")
        missing = [r for r in self.reserved if r not in self.labels]
        if missing:
            raise ValueError(f"reserved output(s) {', '.join(missing)} not among the labels")
        if len(set(self.reserved)) != len(self.reserved):
            raise ValueError("a reserved output is named twice")
        undeclared = [
            lb for lb in self.labels if lb in RESERVED_OUTPUTS and lb not in self.reserved
        ]
        if undeclared:
            raise ValueError(
                f"{', '.join(undeclared)} is a reserved output, not a fine label: list it in "
                "`reserved` (schema 2)"
            )
        if len(self.item_labels) < 2:
            raise ValueError("a model needs at least two item labels besides reserved outputs")
        return self

    @property
    def item_labels(self) -> tuple[str, ...]:
        """The outputs that are taxonomy labels, in output order."""
        return tuple(label for label in self.labels if label not in self.reserved)

    @property
    def background_index(self) -> int | None:
        """The output index of `background`, or None when the model has none."""
        return self.labels.index(BACKGROUND) if BACKGROUND in self.reserved else None

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


class _MetadataEntry(Protocol):
    key: str
    value: str


class _MetadataList(Protocol):
    def add(self) -> _MetadataEntry: ...
    def __iter__(self) -> Any: ...
    def __delitem__(self, index: int) -> None: ...


class OnnxModelProto(Protocol):
    """The part of `onnx.ModelProto` this module touches (so vision never imports onnx)."""

    @property
    def metadata_props(self) -> _MetadataList: ...


def embed_metadata(model: OnnxModelProto, metadata: ModelMetadata) -> None:
    """Write (or replace) the binwatch metadata in an in-memory ONNX model."""
    props = model.metadata_props
    kept = [(e.key, e.value) for e in props if e.key != METADATA_KEY]
    for index in reversed(range(len(list(props)))):
        del props[index]
    for key, value in [*kept, (METADATA_KEY, metadata.to_json())]:
        entry = props.add()
        entry.key = key
        entry.value = value


def parse_metadata(props: Mapping[str, str], source: str) -> ModelMetadata:
    """Read binwatch metadata from a model's metadata map; errors name the source and the field."""
    raw = props.get(METADATA_KEY)
    if raw is None:
        raise MetadataError(
            f"{source}: no binwatch metadata (metadata_props key {METADATA_KEY!r} is missing); "
            "export the model with binwatch"
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{source}: binwatch metadata is not valid JSON ({exc.msg})") from exc
    version = data.get("schema_version", 1) if isinstance(data, dict) else None
    if isinstance(version, int) and version not in KNOWN_SCHEMA_VERSIONS:
        raise MetadataError(
            f"{source}: binwatch metadata schema version {version} is unknown to this binwatch "
            f"(it reads {', '.join(map(str, KNOWN_SCHEMA_VERSIONS))}); update binwatch first"
        )
    try:
        return ModelMetadata.model_validate(data)
    except ValidationError as exc:
        raise MetadataError(
            f"{source}: invalid binwatch metadata: {describe_validation_error(exc)}"
        ) from exc
