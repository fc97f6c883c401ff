"""Several settled frames (and a mirror image) per item against one: the same simulated station
videos replayed through the agent's pipeline under each setting, in one run.

    .venv/bin/python -m bench.frames --videos 3 --dropoffs 40 --out bench/results/frames.json

Per setting: drop-offs found, verdicts that agree with the simulation's truth, items whose
category agrees (as multisets per drop-off, over the true items), and the decide latency (settled
→ verdict; every extra frame or mirror is one more crop through the model).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.edge import DATA, config_for
from bench.timing import percentile
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.scoring import Found, score
from edge.simulate import simulate
from edge.sources import FrameSource
from vision.classifier import Classifier, ClassifierOptions
from vision.shipped import shipped_model_path

SETTINGS = {"1 frame": (1, False), "3 frames": (3, False), "1 frame + mirror": (1, True),
            "3 frames + mirror": (3, True), "5 frames": (5, False)}  # fmt: skip


def replay(truth: dict[str, Any], video: Path, box: Path, classifier: Classifier,
           frames: int, flip: bool) -> tuple[list[Found], list[float]]:  # fmt: skip
    config = config_for(truth, video, box)
    config = config.model_copy(update={
        "trigger": config.trigger.model_copy(update={"combine_frames": frames}),
        "model": config.model.model_copy(update={"flip": flip}),
    })  # fmt: skip
    pipeline = Pipeline(config, classifier, Outbox(config.storage.dir, 10**10))
    found, latency = [], []
    for index, frame in FrameSource(config.source).frames():
        for decision in pipeline.process(frame):
            event = decision.event
            found.append(Found(index, event.bin_id, event.verdict.value,
                               tuple(i.category.value for i in event.items)))  # fmt: skip
            latency.append(1000 * decision.verdict_seconds)
    return found, latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--dropoffs", type=int, default=40)
    parser.add_argument("--manifest", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    parser.add_argument("--model", type=Path, help="ONNX model (default: the shipped one)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = args.model or shipped_model_path()
    assert model is not None, "no shipped model"
    classifier = Classifier(model, ClassifierOptions(threads=args.threads))
    totals: dict[str, dict[str, float]] = {}
    latencies: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="binwatch-frames-bench-") as tmp:
        work = Path(tmp)
        for v in range(args.videos):
            video, truth_file = work / f"v{v}.mp4", work / f"v{v}.json"
            truth = simulate(args.manifest, video, truth_file, dropoffs=args.dropoffs, seed=100 + v)
            for name, (frames, flip) in SETTINGS.items():
                box = work / f"box{v}-{frames}-{flip}"
                found, latency = replay(truth, video, box, classifier, frames, flip)
                latencies[name] += latency
                result = score(truth["dropoffs"], found)
                row = totals.setdefault(name, {})
                for key in ("dropoffs", "matched", "spurious", "verdict_agree", "items_true",
                            "items_agree"):  # fmt: skip
                    row[key] = row.get(key, 0) + getattr(result, key)
                print(f"video {v}, {name}: {result.matched}/{result.dropoffs} found, verdict "
                      f"agrees {result.verdict_agree}, items agree {result.items_agree}/"
                      f"{result.items_true}", flush=True)  # fmt: skip
    print("\n| setting | found | verdict agrees | item category agrees | decide p50 / p95 ms |")
    print("|---|---|---|---|---|")
    results = {}
    for name, row in totals.items():
        lat = latencies[name]
        results[name] = {**row, "p50_ms": statistics.median(lat), "p95_ms": percentile(lat, 0.95)}
        print(f"| {name} | {row['matched']:.0f}/{row['dropoffs']:.0f} | "
              f"{100 * row['verdict_agree'] / max(1, row['matched']):.1f} % | "
              f"{100 * row['items_agree'] / max(1, row['items_true']):.1f} % | "
              f"{results[name]['p50_ms']:.1f} / {results[name]['p95_ms']:.1f} |")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": classifier.metadata.model_version,
                                        "threads": args.threads, "settings": results},
                                       indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
