"""binwatch: the command line that ties vision/, edge/, api/ and train/ together."""

from vision.version import __version__

__all__ = ["__version__"]
