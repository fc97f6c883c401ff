"""The installed binwatch's version, for every side (the service reports it, the CLI prints it)."""

from importlib import metadata

try:
    __version__ = metadata.version("binwatch")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
