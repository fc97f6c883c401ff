"""`binwatch datasets summary MANIFEST...`: check manifests against the taxonomy and print
image counts per label, category and source, for each split."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    summary = sub.add_parser("summary", help="counts per label, category and source")
    summary.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")


def run(args: argparse.Namespace) -> int:
    from train.manifest import load_manifests, summary_table

    dataset = load_manifests(args.manifests)
    for ref in dataset.refs:
        print(f"# {ref.name}: {ref.rows} rows, sha256 {ref.sha256[:16]}…")
    print(summary_table(dataset.samples))
    return 0
