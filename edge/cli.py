"""`binwatch edge ACTION`: the device agent.

binwatch edge check-config FILE      print every error of a config with its path and value;
                                     --probe also opens the source and checks the regions
binwatch edge init --station CODE    write a starting station file (--snapshot FRAME.jpg: the
                                     frame's size; --out FILE, default station.yaml)
binwatch edge run CONFIG             run the agent (camera → verdicts → service)
binwatch edge simulate --out DIR     compose a station video from real photos, with truth
binwatch edge outbox CONFIG          what waits to be sent; --dead: the events the service
                                     refused, with its reason; --retry-dead: send them again
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import StorageConfig

DESCRIPTION = "the device agent: init, check-config, run, simulate, outbox"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["init", "check-config", "run", "simulate", "outbox"])
    parser.add_argument("config", nargs="?", type=Path, help="the agent's YAML config")
    parser.add_argument(
        "--replay", type=Path, help="run: a simulation's truth.json; its card swipes are replayed"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="run: when a file source ends, wait this long for uploads",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=Path("../shared/datasets/waste-v1/manifest.csv"),
        help="simulate: item photos",
    )
    parser.add_argument("--split", default="test", help="simulate: manifest split to draw from")
    parser.add_argument("--out", type=Path, help="simulate: output folder")
    parser.add_argument("--dead", action="store_true", help="outbox: list the refused events")
    parser.add_argument(
        "--retry-dead", action="store_true", help="outbox: queue the refused events again"
    )
    parser.add_argument(
        "--probe", action="store_true", help="check-config: open the source, check the regions"
    )
    parser.add_argument("--station", help="init: the station's code")
    parser.add_argument("--snapshot", type=Path, help="init: a frame of the camera (its size)")
    parser.add_argument("--service-url", help="init: the central service's URL")
    parser.add_argument("--source", help="init: the camera's stream URL (rtsp://…)")
    parser.add_argument("--force", action="store_true", help="init: overwrite --out")
    parser.add_argument("--dropoffs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.epilog = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError

    if args.action == "simulate":
        from edge.simulate import simulate

        if args.out is None:
            raise ConfigError("simulate needs --out DIR")
        args.out.mkdir(parents=True, exist_ok=True)
        truth = simulate(
            args.manifest,
            args.out / "station.mp4",
            args.out / "truth.json",
            dropoffs=args.dropoffs,
            seed=args.seed,
            split=args.split,
        )
        items = sum(len(d["items"]) for d in truth["dropoffs"])
        print(
            f"wrote {args.out / 'station.mp4'} ({truth['frames']} frames, "
            f"{len(truth['dropoffs'])} drop-offs, {items} items) and {args.out / 'truth.json'}"
        )
        return 0
    if args.action == "init":
        return init(args)
    if args.config is None:
        raise ConfigError(f"{args.action} needs a config file")
    if args.action == "check-config":
        from edge.config import config_errors

        errors = config_errors(args.config, probe=args.probe)
        for line in errors:
            print(f"{args.config}: {line}")
        if not errors:
            print(f"{args.config}: ok")
        return 1 if errors else 0
    from edge.config import load_config

    if args.action == "outbox":
        return outbox(load_config(args.config).storage, args.dead, args.retry_dead)
    from edge.agent import Agent

    replay = None
    if args.replay is not None:
        from edge.simulate import card_signals

        replay = card_signals(args.replay)
    return Agent(load_config(args.config)).run(drain_timeout=args.drain_timeout, replay=replay)


def init(args: argparse.Namespace) -> int:
    """A starting station file: two bins over the frame's halves, to redraw on the set-up page."""
    from edge.config import ConfigError
    from vision.station_file import StationFile, render

    if not args.station:
        raise ConfigError("init needs --station CODE")
    spec = StationFile(station=args.station)
    if args.snapshot is not None:
        from vision.imageio import read_image

        frame = read_image(args.snapshot)
        spec.height, spec.width = int(frame.shape[0]), int(frame.shape[1])
    if args.service_url:
        spec.service_url = args.service_url
    if args.source:
        spec.source_uri = args.source
    out = args.out or Path("station.yaml")
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists: pass --force to overwrite it, or --out another file")
    out.write_text(render(spec), encoding="utf-8")
    print(f"wrote {out} (station {spec.station}, frame {spec.width}×{spec.height}); check it with")
    print(f"  binwatch edge check-config {out}")
    return 0


def outbox(storage: StorageConfig, dead: bool, retry: bool) -> int:
    import json

    from edge.outbox import Outbox

    box = Outbox(storage.dir, int(storage.max_evidence_mb * 1e6), int(storage.min_free_mb * 1e6))
    try:
        if retry:
            print(f"{box.retry_dead()} refused events queued again")
        elif dead:
            for event_id, when, reason in box.dead():
                print(f"{event_id}  {when}  {reason}")
        else:
            print(json.dumps(box.stats().__dict__, indent=2))
    finally:
        box.close()
    return 0
