"""The whole loop, every step real: a simulated station runs the shipped model against a service
on loopback; a script plays supervisor and reviews the queue with the simulation's true labels;
`binwatch retrain` fine-tunes on those reviews and registers a candidate that is better on the
held-back reviewed images and no worse on the base test split; the candidate goes canary, then
active (`binwatch models`), and a device picks it up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.schemas import UserCreate
from api.users import create_user
from edge.agent import Agent
from edge.config import EdgeConfig
from edge.simulate import card_signals, simulate
from edge.updater import ModelStore, Updater
from tests.conftest import REPO, WASTE_V1
from tests.edge.conftest import PASSWORD, Service, agent_config, prepare_service
from vision.classifier import Classifier, ClassifierOptions
from vision.shipped import shipped_model_path
from vision.taxonomy import load_profile


def binwatch(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binwatch", *map(str, args)],
        capture_output=True, text=True, timeout=1200, check=False, env=env,
    )  # fmt: skip


def iou(a: dict[str, int], b: list[int]) -> float:
    ax, ay, aw, ah = a["x"], a["y"], a["w"], a["h"]
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / float(aw * ah + bw * bh - w * h)


def _truth_per_bin(truth: dict[str, Any]) -> dict[str, list[list[dict[str, Any]]]]:
    """Per bin, in time order, each drop-off's items with boxes in the bin's view (event boxes
    are relative to the bounding box of the bin's region, truth boxes to the frame)."""
    origin = {
        b["id"]: (min(p[0] for p in b["roi"]), min(p[1] for p in b["roi"])) for b in truth["bins"]
    }
    out: dict[str, list[list[dict[str, Any]]]] = {b["id"]: [] for b in truth["bins"]}
    for d in sorted(truth["dropoffs"], key=lambda d: d["start_frame"]):
        if d["items"]:
            x0, y0 = origin[d["bin"]]
            out[d["bin"]].append([{**i, "box": [i["box"][0] - x0, i["box"][1] - y0, *i["box"][2:]]}
                                  for i in d["items"]])  # fmt: skip
    return out


def _match(
    event: dict[str, Any], dropoffs: list[list[dict[str, Any]]], start: int
) -> tuple[int, list[str | None]]:
    """The drop-off (at or a few after `start`, in time order) whose items the event's boxes
    overlap best, and the label under each event item (None when no truth item overlaps)."""
    best, best_score = start, -1.0
    best_labels: list[str | None] = [None] * len(event["items"])
    for k in range(start, min(start + 3, len(dropoffs))):
        labels: list[str | None] = []
        total = 0.0
        for item in event["items"]:
            scored = [(iou(item["box"], t["box"]), t["label"]) for t in dropoffs[k]]
            overlap, label = max(scored, default=(0.0, None))
            total += overlap
            labels.append(label if overlap > 0.3 else None)
        if total > best_score:
            best, best_score, best_labels = k, total, labels
    return best, best_labels


def review_like_a_supervisor(service: Service, truth: dict[str, Any]) -> dict[str, int]:
    """Every queued event gets the true categories and item labels of the simulation."""
    national = load_profile("national")
    per_bin = _truth_per_bin(truth)
    token = httpx.post(
        f"{service.url}/api/v1/auth/login", json={"username": "super", "password": PASSWORD}
    ).json()["token"]
    done = {"confirm": 0, "overturn": 0, "unclear": 0, "named": 0}
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}) as c:
        queue = c.get("/api/v1/review/queue", params={"limit": 500}).json()
        position = dict.fromkeys(per_bin, 0)
        for entry in sorted(queue, key=lambda e: e["event"]["captured_at"]):
            event = entry["event"]
            at, labels = _match(event, per_bin[event["bin"]], position[event["bin"]])
            position[event["bin"]] = at + 1
            named = [lb for lb in labels if lb]
            if not named:
                body: dict[str, Any] = {"decision": "unclear"}
            else:
                true = sorted({national.category_of(lb).value for lb in named})
                bad = any(cat != event["bin_category"] for cat in true)
                found = "contaminated" if bad else "correct"
                decision = "confirm" if found == event["verdict"] else "overturn"
                if event["verdict"] not in ("correct", "contaminated"):
                    decision = "confirm"
                body = {"decision": decision, "true_categories": true, "labels": labels}
                done["named"] += len(named)
            made = c.post(f"/api/v1/review/items/{entry['id']}/decision", json=body)
            assert made.status_code == 201, made.text
            done[body["decision"]] += 1
    return done


@pytest.fixture
def loop_service(tmp_path: Path) -> Any:
    service = prepare_service(tmp_path)
    from api.app import create_app

    app = create_app(service.settings)
    with app.state.sessions() as session:
        for name, role, scope in (("super", "supervisor", ["K1"]), ("engineer", "engineer", [])):
            create_user(
                session, UserCreate(username=name, password=PASSWORD, role=role, scope=scope)
            )
        session.commit()
    app.state.engine.dispose()
    service.start()
    yield service
    service.stop()


def test_reviews_retrain_canary_active_device(
    tmp_path: Path, loop_service: Service, waste_v1_rows: list[dict[str, str]]
) -> None:
    service = loop_service
    shipped = shipped_model_path()
    assert shipped is not None
    with service.admin() as admin:
        made = admin.post(
            "/api/v1/models",
            content=shipped.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert made.status_code == 201, made.text
        base = made.json()["version"]
        for move in ({"state": "canary", "stations": ["SIM"]}, {"state": "active"}):
            assert admin.post(f"/api/v1/models/{base}/state", json=move).status_code == 200

    # a station films drop-offs of photos from the base *val* split (never the test split)
    video, truth_path = tmp_path / "station.mp4", tmp_path / "truth.json"
    truth = simulate(WASTE_V1 / "manifest.csv", video, truth_path, dropoffs=160, seed=11,
                     split="val", wrong_share=0.4)  # fmt: skip
    config = agent_config(tmp_path, service.url, service.device_token, video, truth,
                          evidence={"audit_share": 1.0}, source={"fps": 60})  # fmt: skip
    assert (
        Agent(EdgeConfig.model_validate(config)).run(
            drain_timeout=60, replay=card_signals(truth_path)
        )
        == 0
    )
    done = review_like_a_supervisor(service, truth)
    assert done["named"] >= 60, done

    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env["BINWATCH_PASSWORD"] = PASSWORD
    run = tmp_path / "retrain"
    # 160 drop-offs (≈ 240 reviewed photos) and about 400 base photos a split, so the gate does
    # not fire on noise (`python -m bench.gatenoise`, 24 hold-out draws each): 80 drop-offs and
    # 150 base photos (161 test photos, one photo 0.62 points) refused 4 (two photos lost, or the
    # field loss not lower), 80 and 400 refused 1 (field loss 0.002 higher on 37 photos), 160
    # and 400 refused none (field loss at least 0.107 lower, base drop at most 0.47 points).
    # lite0-waste-2.8 sits nearer the line on waste-v1's recyclables: with the re-fit on plain
    # base photos it refused 2 of 8 (drops up to 1.17 points, one failed CI run); re-fitting on
    # the training's views too, the kept base photos weighed for the skipped, none of 24 (drops
    # 0.00-0.70 points, field loss at least 0.195 lower; bench/results/gate-noise-2.8*.json)
    # The shipped static int8 file's head alone fitted in its own graph (the default) loses the
    # same 3 of these 428 base test photos in 9 of 10 hold-outs under --limit 400 (2.14 points
    # of macro recall, 1.92 allowed), none at full size (gate-noise-2.10-static-candidate-*.json):
    # so here through its float graph, in which 0 of 10 were refused. A CI run on 2026-12-06 drew
    # reviews on which it lost 2 of them (plastic -> other, residual -> recyclable: macro recall
    # -2.03 points, 1.92 allowed) while the field loss fell 0.657 -> 0.463: under --limit 400 one
    # photo is 1.92 points, so the loop's gate allows two photos' worth (--margin 0.025); the
    # gate's own margin at full size is tests/train's and bench.gatenoise's
    result = binwatch("retrain", "--from", service.url, "--manifest", WASTE_V1 / "manifest.csv",
                      "--out", run, "--limit", "400", "--field-holdout", "0.4",
                      # the head alone: tuning the last blocks is tests/train/test_tail.py's
                      "--tune-blocks", "0", "--static-candidate", "0", "--margin", "0.025",
                      "--version", f"{base}-r1", env=env)  # fmt: skip
    kept = REPO / "artifacts" / "loop"  # for a full-size retrain by hand (README, bench numbers)
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(run / "reviewed.zip", kept / "reviewed.zip")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads((run / "report.json").read_text())
    active, candidate = report["active"], report["candidate"]
    assert report["recipe"]["form"].startswith("int8-weights")  # as --static-candidate 0 asked
    # the hold-out is drawn from the event ids (random here): about 40 % of ≈ 240 images
    assert report["field"]["held_back"] >= 25 and report["field"]["train"] >= 40, report["field"]
    assert candidate["field_holdout"]["log_loss"] < active["field_holdout"]["log_loss"]
    base_drop = (
        active["base_test"]["category_accuracy"] - candidate["base_test"]["category_accuracy"]
    )
    assert base_drop <= 0.01
    # the base test photos it now gets wrong are named on the console (and in the report)
    lost = [c for c in report["base_test_changes"] if c["effect"] == "lost"]
    assert ("that the active model got right" in result.stdout) == bool(lost), result.stdout
    assert report["registered"] == f"{base}-r1"
    meta = Classifier(run / "candidate.onnx").metadata
    assert meta.provenance.recipe["retrained_from"] == base
    assert meta.provenance.datasets[-1].name == "field-reviewed"

    # canary on the station, compared with the active model, then the fleet; a rollback and back
    def models(*args: str) -> str:
        done = binwatch("models", *args, "--service", service.url, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "is canary on SIM" in models("canary", f"{base}-r1", "--station", "SIM")
    compared = models("compare", f"{base}-r1")
    assert "flag_rate" in compared and "overturn_rate" in compared, compared
    models("promote", f"{base}-r1")
    assert f"{base}-r1  active" in models("list")
    assert f"{base} is active again" in models("rollback", base)
    assert f"{base}  active" in models("list")
    models("promote", f"{base}-r1")

    # the device asks once and swaps to the new model
    store = ModelStore(tmp_path / "device-models")
    device = httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {service.device_token}"}
    )
    picked = Updater(device, store, ClassifierOptions()).check(None)
    assert picked is not None and picked.metadata.model_version == f"{base}-r1"
