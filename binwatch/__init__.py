"""binwatch: the command line that ties vision/, edge/, api/ and train/ together."""

from importlib import metadata

try:
    __version__ = metadata.version("binwatch")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
