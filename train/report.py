"""Write an evaluation as report.json, report.md, a confusion-matrix PNG and a reliability plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from vision.taxonomy import Category


def _pct(value: float | None) -> str:
    return "–" if value is None or value != value else f"{100 * value:.1f} %"


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    _confusion_png(report["category"], out / "confusion.png")
    _reliability_png(report["calibration"]["reliability"], out / "reliability.png")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")


def markdown(report: dict[str, Any]) -> str:
    fine, cat, cal, flags = (
        report["fine"],
        report["category"],
        report["calibration"],
        report["flags"],
    )
    lines = [
        f"# Evaluation of {report['model_version']} on {report['split']} "
        f"({report['images']} images)",
        "",
        f"Model `{report['model']}`, profile `{report['profile']}`; command: `{report['command']}`",
        "",
        "| measure | fine labels | categories |",
        "|---|---|---|",
        f"| accuracy | {_pct(fine['accuracy'])} | {_pct(cat['accuracy'])} |",
        f"| macro recall | {_pct(fine['macro_recall'])} | {_pct(cat['macro_recall'])} |",
        f"| ECE (top-1) | {_pct(cal['ece'])} | {_pct(cal['category_ece'])} |",
        "",
    ]
    if "no_item" in report:  # a model with a background output: the items it would drop
        drop = report["no_item"]
        lines += [
            f'Items answered "no item" (background ≥ {drop["threshold"]:.2f}): '
            f"{drop['items_dropped']} ({_pct(drop['items_dropped_share'])}); the scores above "
            "answer every image with its most likely item label.",
            "",
        ]
    lines += [
        "## Per class",
        "| class | precision | recall | images |",
        "|---|---|---|---|",
    ]
    for table in (cat, fine):
        for name, row in table["per_class"].items():
            lines.append(
                f"| {name} | {_pct(row['precision'])} | {_pct(row['recall'])} | {row['support']} |"
            )
    lines += ["", "## Category confusion (rows: truth)", "", "![confusion](confusion.png)", "",
              "| truth \\ predicted | " + " | ".join(cat["names"]) + " |",
              "|---|" + "---|" * len(cat["names"])]  # fmt: skip
    for name, row in zip(cat["names"], cat["confusion"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(n) for n in row) + " |")
    lines += ["", "## Contamination flags (each image dropped into each bin)", "",
              f"Thresholds: `{json.dumps(flags['thresholds'])}`", "",
              "| bin | flag precision | flag recall | flagged | wrong |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, row in flags["by_bin"].items():
        lines.append(f"| {name} | {_pct(row['precision'])} | {_pct(row['recall'])} | "
                     f"{row['flagged']} | {row['wrong']} |")  # fmt: skip
    hk = flags["hazardous_and_kitchen_items"]
    lines += [f"| hazardous and kitchen items, any wrong bin | {_pct(hk['precision'])} | "
              f"{_pct(hk['recall'])} | {hk['flagged']} | {hk['wrong']} |",
              "", "## Calibration", "", "![reliability](reliability.png)", ""]  # fmt: skip
    return "\n".join(lines)


def _confusion_png(cat: dict[str, Any], path: Path) -> None:
    names = cat["names"]
    matrix = cat["confusion"]
    fig, ax = plt.subplots(figsize=(5, 4.4), dpi=110)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            ax.text(
                j, i, str(n), ha="center", va="center", color="white" if n > peak / 2 else "black"
            )
    for tick, name in zip(ax.get_yticklabels(), names, strict=True):
        tick.set_color(Category(name).hex)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _reliability_png(table: list[dict[str, float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=110)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    conf = [row["confidence"] for row in table]
    acc = [row["accuracy"] for row in table]
    ax.plot(conf, acc, "o-", label="model")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
