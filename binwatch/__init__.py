"""binwatch: the command line that ties vision/, edge/, api/ and train/ together."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`binwatch.__version__`, read on first use (vision.version), so `binwatch --help`
    imports no subsystem."""
    if name == "__version__":
        from vision.version import __version__

        return __version__
    raise AttributeError(name)
