"""The errors binwatch raises on bad input. Each message is one line that names the problem."""

from __future__ import annotations

from pydantic import ValidationError


class BinwatchError(Exception):
    """Base of every error binwatch reports to a person (the CLI prints it without a traceback)."""


class TaxonomyError(BinwatchError):
    """A label catalog or taxonomy profile is invalid, or a label or bin is unknown."""


class ModelError(BinwatchError):
    """A model file cannot be used: missing, not ONNX, or its shape disagrees with its metadata."""


class MetadataError(ModelError):
    """A model file has no binwatch metadata, or the metadata is invalid."""


class ImageError(BinwatchError):
    """An image cannot be read or has the wrong shape or type."""


def describe_validation_error(error: ValidationError) -> str:
    """Flatten a pydantic error into one line: `loc.path: message; other.loc: message`."""
    parts = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{loc}: {item['msg']}")
    return "; ".join(parts)
