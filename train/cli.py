"""`binwatch train --manifest ... --out runs/NAME`: train a classifier on dataset manifests.
Writes checkpoint.pt (weights, labels, preprocessing, temperature, resolved arguments),
args.json and log.jsonl into the run folder."""

from __future__ import annotations

import argparse

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""


def configure(parser: argparse.ArgumentParser) -> None:
    from train.train import add_arguments

    add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from train.train import main

    checkpoint = main(args)
    print(f"wrote {checkpoint}")
    return 0
