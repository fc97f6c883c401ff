"""`binwatch evaluate --model FILE.onnx --manifest ... --split test --out DIR`: score an ONNX
model through the shared classifier; writes report.json, report.md, confusion.png and
reliability.png."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="ONNX model with metadata")
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument("--profile", help="taxonomy profile (default: the model's)")
    parser.add_argument("--threads", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    from train.evaluate import predict, score
    from train.manifest import load_manifests
    from train.report import write_report
    from vision.classifier import Classifier, ClassifierOptions

    classifier = Classifier(args.model, ClassifierOptions(threads=args.threads, batch_size=32),
                            profile=args.profile)  # fmt: skip
    samples = load_manifests(args.manifest).split(args.split)
    report = score(classifier, samples, predict(classifier, samples))
    report.update(model=str(args.model), model_version=classifier.metadata.model_version,
                  profile=classifier.profile.name, split=args.split,
                  command="binwatch " + shlex.join(sys.argv[1:]))  # fmt: skip
    write_report(report, args.out)
    fine, cat = report["fine"], report["category"]
    print(
        f"{args.split}: {report['images']} images; categories: accuracy "
        f"{100 * cat['accuracy']:.2f} %, macro recall {100 * cat['macro_recall']:.2f} %; "
        f"fine labels: accuracy {100 * fine['accuracy']:.2f} %, macro recall "
        f"{100 * fine['macro_recall']:.2f} %; ECE {100 * report['calibration']['ece']:.2f} %"
    )
    print(f"wrote {args.out / 'report.md'}")
    return 0
