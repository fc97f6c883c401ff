"""After the gate, every review: `RetrainOptions.refit`.

`binwatch retrain` holds back a share of the reviewed events (30 % by default) so the gate can
ask whether the recipe reads this site better than the active model. Once it has said yes, those
photos have done their job as a test and are worth more as training: a site's supervisors paid
for every one of them. With `refit` the retrain fits again, with the same options, on all of
them (train.retrain runs its recipe a second time, `field_holdout` 0, into `out/refit`), checks
that fit on base test as the gate checks a candidate (`train.gate.base_reasons`: no more than
`margin` lost against the active model), and if it holds, the refit becomes `candidate.onnx`
(the gated one is kept as `gated.onnx`). Its metadata says it was refitted and what the gate
saw; the report keeps the gate's own scores, which the refit cannot have (it trained on those
photos), beside the refit's base test.

A refit that loses the base test keeps the gated candidate: what registers has passed a check on
base test either way, and the field check it passed is the recipe's on this site's photos.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from train.gate import base_reasons
from vision.metadata import embed_metadata, parse_metadata

GATED = "gated.onnx"


def adopt_refit(
    out: Path, gated: dict[str, Any], refit: dict[str, Any], margin: float
) -> dict[str, Any]:
    """The gated retrain's report with what the refit (`refit`, its report, written under
    `out / "refit"`) did on base test; where that holds, the refit's file becomes
    `out / "candidate.onnx"` (the gated one moved to `out / GATED`) and its metadata records the
    gate it rests on."""
    reasons, drop = base_reasons(gated["active"], refit["candidate"], margin)
    summary = {
        "trained_on": refit["field"]["train"],
        "no_item_train": refit["field"]["no_item_train"],
        "base_test": refit["candidate"]["base_test"],
        "base_test_drop": drop,
        "base_test_changes": refit.get("base_test_changes", []),
        "tuned_blocks": refit["recipe"]["tuned_blocks"],
        "temperature": refit["recipe"]["temperature"],
        "thresholds": refit["thresholds"],
        "reasons": reasons,
        "adopted": not reasons,
    }
    if reasons:
        return {**gated, "refit": summary}
    (out / "candidate.onnx").replace(out / GATED)
    candidate = out / "candidate.onnx"
    (out / "refit" / "candidate.onnx").replace(candidate)
    model = onnx.load(str(candidate))
    metadata = parse_metadata({p.key: p.value for p in model.metadata_props}, str(candidate))
    recipe = dict(metadata.provenance.recipe)
    recipe["refit"] = {
        "trained_on": summary["trained_on"],
        "gated_on": gated["field"]["held_back"],
        "gate_trained_on": gated["field"]["train"],
        "gate_field_log_loss": gated["candidate"]["field_holdout"].get("log_loss"),
        "gate_parent_field_log_loss": gated["active"]["field_holdout"].get("log_loss"),
    }
    provenance = metadata.provenance.model_copy(update={"recipe": recipe})
    embed_metadata(model, metadata.model_copy(update={"provenance": provenance}))
    onnx.save(model, str(candidate))
    return {**gated, "refit": summary}


def refit_markdown(summary: dict[str, Any], active: dict[str, Any]) -> str:
    """The refit's lines for report.md."""
    base, before = summary["base_test"], active["base_test"]
    lines = [
        "## Refitted on every review",
        "",
        f"After the gate passed, the recipe ran again on all {summary['trained_on']} reviewed "
        f"photos (no hold-out). Base test category accuracy "
        f"{100 * before['category_accuracy']:.2f} → {100 * base['category_accuracy']:.2f} %, "
        f"macro recall {100 * before['category_macro_recall']:.2f} → "
        f"{100 * base['category_macro_recall']:.2f} %.",
        "",
    ]
    if summary["adopted"]:
        lines.append(
            "**The refit is `candidate.onnx`** (the gated candidate: `gated.onnx`). Its field "
            "scores above are the gated candidate's: the refit trained on the held-back photos."
        )
    else:
        lines.append(
            "**The refit was not adopted** (" + "; ".join(summary["reasons"]) + "): "
            "`candidate.onnx` is the gated candidate."
        )
    return "\n".join([*lines, ""])
