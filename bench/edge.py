"""The edge agent on this machine: drop-off detection and verdicts on simulated station videos,
decide latency, idle CPU at 720p and 10 fps, and sustained frames per second.

    .venv/bin/python -m bench.edge --videos 3 --dropoffs 40 --out bench/results/edge.json

Videos come from `binwatch edge simulate` (real test photos from ../shared/datasets); the
pipeline is the agent's own (`edge.pipeline.Pipeline`, shipped model, one thread), without the
network. Targets: detection ≥ 98 % of drop-offs with ≤ 1 % spurious; decide (settled → verdict)
p95 ≤ 50 ms for 3 items; idle ≤ 20 % of one core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.timing import percentile
from edge.config import EdgeConfig
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.scoring import Found, flag_counts, score
from edge.simulate import simulate
from edge.sources import FrameSource, paced
from vision.classifier import Classifier, ClassifierOptions
from vision.shipped import shipped_model_path

DATA = Path(__file__).resolve().parents[1].parent / "shared/datasets/waste-v1/manifest.csv"


def config_for(truth: dict[str, Any], video: Path, storage: Path, **source: Any) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "device_id": "bench",
            "station_id": "SIM",
            "pseudonym_key": "k" * 16,
            "service": {"url": "http://127.0.0.1:9", "token": "unused"},
            "bins": [
                {"id": b["id"], "category": b["category"], "roi": b["roi"]} for b in truth["bins"]
            ],
            "source": {"kind": "file", "uri": str(video), **source},
            "storage": {"dir": str(storage)},
            "model": {"update": False},
            "evidence": {"audit_share": 0.05},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--dropoffs", type=int, default=40)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--manifest", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    parser.add_argument("--out", type=Path, default=Path("bench/results/edge.json"))
    parser.add_argument("--model", type=Path, help="ONNX model (default: the shipped one)")
    parser.add_argument("--wrong-share", type=float, default=0.3,
                        help="the share of items households drop into the wrong bin")  # fmt: skip
    args = parser.parse_args()
    model = args.model or shipped_model_path()
    assert model is not None, "no shipped model"
    classifier = Classifier(model, ClassifierOptions(threads=args.threads))
    latency: dict[int, list[float]] = {}
    totals = {"dropoffs": 0, "events": 0, "matched": 0, "spurious": 0, "verdict_agree": 0}
    verdicts: Counter[str] = Counter()
    frames = seconds = 0.0
    background_crops = 0
    with tempfile.TemporaryDirectory(prefix="binwatch-edge-bench-") as tmp:
        work = Path(tmp)
        for v in range(args.videos):
            video, truth_file = work / f"v{v}.mp4", work / f"v{v}.json"
            truth = simulate(args.manifest, video, truth_file, dropoffs=args.dropoffs, seed=100 + v,
                             wrong_share=args.wrong_share)  # fmt: skip
            config = config_for(truth, video, work / f"box{v}")
            pipeline = Pipeline(config, classifier, Outbox(config.storage.dir, 10**10))
            found = []
            started = time.perf_counter()
            count = 0
            for index, frame in FrameSource(config.source).frames():
                count += 1
                for decision in pipeline.process(frame):
                    event = decision.event
                    found.append(
                        Found(
                            index,
                            event.bin_id,
                            event.verdict.value,
                            tuple(i.category.value for i in event.items),
                        )
                    )
                    latency.setdefault(decision.crops, []).append(1000 * decision.verdict_seconds)
            seconds += time.perf_counter() - started
            background_crops += pipeline.background_crops
            frames += count
            result = score(truth["dropoffs"], found)
            for key in totals:
                totals[key] += getattr(result, key)
            verdicts.update(result.verdicts)
            print(
                f"video {v}: {result.dropoffs} drop-offs, {result.matched} found, "
                f"{result.spurious} spurious, verdict agrees {result.verdict_agree}"
            )
        # idle: a station with nobody at the bins, paced like a 10 fps camera
        idle_video, idle_truth = work / "idle.mp4", work / "idle.json"
        truth = simulate(args.manifest, idle_video, idle_truth, dropoffs=0, seed=7)
        config = config_for(truth, idle_video, work / "idle-box", loop=True)
        pipeline = Pipeline(config, classifier, Outbox(config.storage.dir, 10**10))
        cpu0, wall0, idle_frames = time.process_time(), time.perf_counter(), 0
        for _, frame in paced(FrameSource(config.source).frames(), 10.0):
            pipeline.process(frame)
            idle_frames += 1
            if time.perf_counter() - wall0 >= args.idle_seconds:
                break
        idle_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    rows = {
        str(k): {"decisions": len(v), "p50_ms": statistics.median(v), "p95_ms": percentile(v, 0.95)}
        for k, v in sorted(latency.items())
    }
    results = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "videos": args.videos,
        "dropoffs_per_video": args.dropoffs,
        "detection": {
            **totals,
            "recall": totals["matched"] / max(1, totals["dropoffs"]),
            "spurious_rate": totals["spurious"] / max(1, totals["dropoffs"]),
            "verdict_agreement": totals["verdict_agree"] / max(1, totals["matched"]),
            "verdicts": dict(sorted(verdicts.items())),
            **flag_counts(verdicts),
        },
        "background_crops_dropped": background_crops,
        "decide_latency_by_items": rows,
        "sustained_fps_720p": frames / seconds,
        "idle_cpu_share_of_one_core_720p_10fps": idle_share,
        "idle_frames": idle_frames,
        "model": classifier.metadata.model_version,
        "threads": args.threads,
    }
    d = results["detection"]
    print(
        f"detection: {d['matched']}/{d['dropoffs']} found ({100 * d['recall']:.1f} %), "
        f"{d['spurious']} spurious ({100 * d['spurious_rate']:.1f} %), verdict agrees with the "
        f"truth on {100 * d['verdict_agreement']:.1f} % of found drop-offs"
    )
    print(
        f"flags: {d['flagged']} drop-offs flagged, {d['false_flags']} of them sorted right "
        f"(precision {100 * d['flag_precision']:.1f} %); {d['wrong_flagged']} of "
        f"{d['wrong']} wrong drop-offs flagged, {d['wrong_uncertain']} left uncertain; "
        f"{d['right_uncertain']} of {d['right']} right ones uncertain"
    )
    print(f"crops read as no item and dropped: {background_crops}")
    for items, row in rows.items():
        print(
            f"decide latency, {items} item(s): p50 {row['p50_ms']:.1f} ms, "
            f"p95 {row['p95_ms']:.1f} ms ({row['decisions']} decisions)"
        )
    print(f"sustained: {results['sustained_fps_720p']:.0f} frames/s at 720p (decode included)")
    print(f"idle at 720p, 10 fps: {100 * idle_share:.1f} % of one core")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
