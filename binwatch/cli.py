"""`binwatch COMMAND ...`: one console script, each subsystem imported only when its command runs.

A command module exposes `DESCRIPTION`, `configure(parser)` and `run(args) -> int`, and keeps its
module level light (heavy imports go inside `run`), so `binwatch --help` and the edge commands
never import torch or fastapi.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Protocol, cast

# command → (module, one-line help). Order is the order of `binwatch --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("binwatch.demo_cli", "run the whole system here: service, stations, dashboard"),
    "classify": ("vision.cli", "classify images and judge them against a bin"),
    "datasets": ("train.datasets_cli", "check dataset manifests and count their images"),
    "train": ("train.cli", "train a classifier on dataset manifests"),
    "retrain": ("binwatch.retrain_cli", "fine-tune the active model on reviewed field images"),
    "models": ("binwatch.models_cli", "list, compare, canary, promote, roll back service models"),
    "evaluate": ("train.evaluate_cli", "score an ONNX model on a manifest split, write a report"),
    "export": ("train.export_cli", "turn a checkpoint into a checked, self-describing ONNX model"),
    "edge": ("edge.cli", "the device agent: check-config, run, simulate"),
    "serve": ("api.serve_cli", "run the central service (migrates the database first)"),
    "db": ("api.admin_cli", "migrate the service's database (upgrade, current)"),
    "places": ("api.admin_cli", "import places, bins and households from CSV"),
    "users": ("api.admin_cli", "create service users (admin, office, supervisor, engineer)"),
    "devices": ("api.admin_cli", "register a device at a station and print its token"),
    "storage": ("api.storage_cli", "copy the data directory's files to the S3 bucket (migrate)"),
}

EXIT_USAGE = 2  # also every BinwatchError: bad model, bad profile, bad config


class CommandModule(Protocol):
    DESCRIPTION: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return (
        "usage: binwatch [--version] COMMAND [ARGS...]\n\n"
        "Checks household waste sorting at the bin.\n\ncommands:\n"
        + "\n".join(lines)
        + "\n\n`binwatch COMMAND --help` describes a command.\n"
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _setup_logging(level: str, form: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage(), end="")
        return 0 if args else EXIT_USAGE
    if args[0] == "--version":
        from vision.version import __version__

        print(f"binwatch {__version__}")
        return 0
    name = args[0]
    if name not in COMMANDS:
        print(f"binwatch: unknown command {name!r}\n\n{_usage()}", end="", file=sys.stderr)
        return EXIT_USAGE
    module = cast(CommandModule, importlib.import_module(COMMANDS[name][0]))
    parser = argparse.ArgumentParser(prog=f"binwatch {name}", description=module.DESCRIPTION)
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log level for messages on stderr (default: warning)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="log lines as text or as one JSON object each (for log collectors)",
    )
    module.configure(parser)
    parsed = parser.parse_args(args[1:])
    parsed.command = name
    _setup_logging(parsed.log_level, parsed.log_format)
    from vision.errors import BinwatchError

    try:
        return module.run(parsed)
    except BinwatchError as exc:
        print(f"binwatch {name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
