"""`binwatch retrain --from SERVICE_URL|reviewed.zip --manifest BASE --out runs/NAME`: fine-tune
the active model on reviewed field images, compare, and register the candidate if it is better.

From a service it signs in as an engineer (`--user`, password from BINWATCH_PASSWORD or
`--password-stdin`; or `--token`), downloads the reviewed samples and the active model, and
uploads the candidate when it passes (state `candidate`; canary and promotion stay a person's
decision). Writes reviewed.zip, field/, active.onnx, candidate.onnx, report.json and report.md
into the run folder. Exit status 0: passed (and registered); 3: the candidate did not pass.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

DESCRIPTION = "fine-tune the active model on reviewed field images, compare, register if better"
NOT_PASSED = 3


def configure(p: argparse.ArgumentParser) -> None:
    from train.thresholds import LOWER_FLAGS_HELP, lowered_categories

    p.add_argument("--from", dest="source", required=True,
                   help="the service's URL, or a reviewed.zip exported from it")  # fmt: skip
    p.add_argument("--manifest", type=Path, action="append", required=True,
                   help="base manifest (repeat them); compared on its test split")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--model", type=Path, help="the model to start from (default: the service's "
                   "active model; with a zip, the shipped model)")  # fmt: skip
    p.add_argument("--user", default="engineer", help="service user (engineer or admin)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--token", help="a bearer token instead of a user and password")
    p.add_argument("--start", type=date.fromisoformat,
                   help="reviewed events from (default: 90 days ago)")  # fmt: skip
    p.add_argument(
        "--end", type=date.fromisoformat, help="reviewed events to (default: the service's today)"
    )
    p.add_argument("--place", help="only reviewed events under this place code")
    p.add_argument("--version", help="candidate version (default: <active>-r<UTC time>)")
    p.add_argument("--limit", type=int, default=0, help="at most about N base images per split")
    p.add_argument("--field-weight", type=float, default=5.0)
    p.add_argument("--field-views", type=int, default=4)
    p.add_argument("--base-views", type=int, choices=range(1, 5), default=2, metavar="{1..4}",
                   help="views of each base train photo the head alone re-fits on: the photo "
                   "as it is and N-1 drawn as training draws them (1: as it is only; tuned "
                   "blocks always re-fit on the photos as they are)")  # fmt: skip
    p.add_argument("--close-ups", type=int, choices=(0, 1, 2), default=2,
                   help="which close-ups `binwatch classify` reads of a reviewed photo it also "
                   "trains on: 2 where the ground or the active model's activations place its "
                   "item, 1 where the ground does (a small item on a plain floor), 0 none "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--no-close-ups", action="store_true",
                   help="train on reviewed photos as they are only (--close-ups 0)")  # fmt: skip
    p.add_argument("--field-holdout", type=float, default=0.3)
    p.add_argument("--refit", type=int, choices=(0, 1), default=1,
                   help="1: once the candidate passes, fit it again on every reviewed photo, "
                   "the held-back ones too, and keep that where it holds the base test (the "
                   "gated candidate: gated.onnx); 0: the gated candidate (default: "
                   "%(default)s)")  # fmt: skip
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--margin", type=float, default=0.01,
                   help="allowed drop in base test category accuracy and macro recall "
                   "(0.01 = 1 point)")  # fmt: skip
    p.add_argument("--tune-blocks", type=int, default=-1,
                   help="also tune the model's last N blocks, rebuilt from the ONNX file "
                   "(0: the head only; default: 2 from --tune-from reviewed images on)",
                   )  # fmt: skip
    p.add_argument("--tune-from", type=int, default=40,
                   help="reviewed images trained on (after the hold-out) it takes to tune blocks "
                   "by default")  # fmt: skip
    p.add_argument("--static-candidate", type=int, choices=(-1, 0, 1, 2), default=-1,
                   help="from a static int8 model: 2 fits in its own graph and writes the "
                   "candidate back into it (its speed kept); 0 fits on its float graph and "
                   "writes int8 weights; 1 quantizes that fit statically again; -1: 2")  # fmt: skip
    p.add_argument("--contamination-rate", type=float, default=0.1,
                   help="the candidate's flags must reach 97 %% precision where this share of "
                   "drops are wrong (the site's measured rate, if known; 0: each photo dropped "
                   "into each bin, three wrong in four)")  # fmt: skip
    p.add_argument("--lower-flags", type=lowered_categories, default="hazardous",
                   help=LOWER_FLAGS_HELP)  # fmt: skip
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-register", action="store_true", help="never upload the candidate")
    p.add_argument("--cache", type=Path, help="where base photos' features are kept per model "
                   "(default: ~/.cache/binwatch/features)")  # fmt: skip
    p.add_argument("--no-cache", action="store_true", help="compute every feature afresh")


def _client(args: argparse.Namespace) -> Any:
    from binwatch.service_client import signed_in

    return signed_in(args.source, args.user, args.token, args.password_stdin, timeout=300)


def _download(client: Any, url: str, target: Path, **params: Any) -> None:
    with client.stream("GET", url, params=params) as response:
        if response.status_code != 200:
            response.read()
            raise SystemExit(f"GET {url}: {response.status_code} {response.text}")
        with target.open("wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)


def _active(client: Any, target: Path) -> str:
    models = client.get("/api/v1/models")
    if models.status_code != 200:
        raise SystemExit(f"cannot list models: {models.status_code} {models.text}")
    active = [m for m in models.json() if m["state"] == "active"]
    if not active:
        raise SystemExit("the service has no active model: pass --model")
    _download(client, f"/api/v1/models/files/{active[0]['sha256']}", target)
    return str(active[0]["version"])


def _service_today(client: Any) -> date:
    """Today where the service counts its days (its time zone, not this machine's or UTC);
    a service from before `/stats/today` gets tomorrow in UTC, which covers every zone's today."""
    answer = client.get("/api/v1/stats/today")
    if answer.status_code == 200:
        return date.fromisoformat(answer.json()["today"])
    return datetime.now(UTC).date() + timedelta(days=1)


def _extract(archive: Path, folder: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as zipped:
            if "manifest.csv" not in zipped.namelist():
                raise SystemExit(f"{archive} has no manifest.csv: not a reviewed-samples export")
            zipped.extractall(folder)
    except zipfile.BadZipFile:
        raise SystemExit(f"{archive} is not a zip file") from None
    return folder / "manifest.csv"


def run(args: argparse.Namespace) -> int:
    from train.feature_cache import default_folder
    from train.retrain import RetrainOptions, retrain

    args.out.mkdir(parents=True, exist_ok=True)
    remote = args.source.startswith(("http://", "https://"))
    client = _client(args) if remote else None
    archive = args.out / "reviewed.zip"
    if client is not None:
        end = args.end or _service_today(client)
        start = args.start or end - timedelta(days=90)
        params = {"start": str(start), "end": str(end)} | (
            {"place": args.place} if args.place else {}
        )
        _download(client, "/api/v1/export/reviewed.zip", archive, **params)
        print(f"downloaded the reviewed samples {start} to {end} ({archive.stat().st_size} bytes)")
    else:
        archive = Path(args.source)
        if not archive.is_file():
            raise SystemExit(f"{archive}: no such file (pass a service URL or a reviewed.zip)")
    field_manifest = _extract(archive, args.out / "field")

    active_path = args.out / "active.onnx"
    if args.model is not None:
        active_path.write_bytes(args.model.read_bytes())
    elif client is not None:
        print(f"starting from the service's active model {_active(client, active_path)}")
    else:
        from vision.shipped import shipped_model_path

        shipped = shipped_model_path()
        if shipped is None:
            raise SystemExit("no shipped model here: pass --model")
        active_path.write_bytes(shipped.read_bytes())

    options = RetrainOptions(
        field_weight=args.field_weight, field_views=args.field_views, base_views=args.base_views,
        close_ups=0 if args.no_close_ups else args.close_ups,
        field_holdout=args.field_holdout, refit=args.refit, steps=args.steps, margin=args.margin,
        seed=args.seed, threads=args.threads, tune_blocks=args.tune_blocks,
        tune_from=args.tune_from, static_candidate=args.static_candidate,
        contamination_rate=args.contamination_rate,
        lowered_flags=args.lower_flags,
    )  # fmt: skip
    cache = None if args.no_cache else (args.cache or default_folder())
    report = retrain(active_path, args.manifest, field_manifest, args.out, options,
                     args.version, args.limit, cache)  # fmt: skip
    print(f"method: {report['recipe']['method']}")
    for name in ("active", "candidate"):
        row = report[name]
        print(
            f"{name:>9} {row['model_version']}: base test category accuracy "
            f"{100 * row['base_test']['category_accuracy']:.2f} % ({row['base_test']['images']}), "
            f"field category accuracy {100 * row['field_holdout']['category_accuracy']:.2f} %, "
            f"field log loss {row['field_holdout']['log_loss']:.3f} "
            f"({row['field_holdout']['images']} held-back images)"
        )
    decision = report["decision"]
    lost = [c for c in report.get("base_test_changes", []) if c["effect"] == "lost"]
    if lost:
        print("base test photos it gets wrong that the active model got right: " + ", ".join(
            f"{c['photos']} {c['label']} ({c['from']} → {c['to']})" for c in lost))  # fmt: skip
    if not decision["passed"]:
        print("the candidate did not pass: " + "; ".join(decision["reasons"]))
        print(f"report: {args.out / 'report.md'}")
        return NOT_PASSED
    refit = report.get("refit")
    if refit is not None:
        base = refit["base_test"]
        print(
            f"refitted on all {refit['trained_on']} reviewed images: base test category accuracy "
            f"{100 * base['category_accuracy']:.2f} % "
            + ("(candidate.onnx; the gated candidate: gated.onnx)" if refit["adopted"]
               else "(not kept: " + "; ".join(refit["reasons"]) + ")")
        )  # fmt: skip
    print(f"the candidate passed; report: {args.out / 'report.md'}")
    if client is not None and not args.no_register:
        made = client.post(
            "/api/v1/models",
            content=(args.out / "candidate.onnx").read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        if made.status_code != 201:
            raise SystemExit(f"registering the candidate failed: {made.status_code} {made.text}")
        print(f"registered {made.json()['version']} as a candidate")
        report["registered"] = made.json()["version"]
        (args.out / "report.json").write_text(json.dumps(report, indent=2))
    return 0
