"""The model card's measured sections: generalisation, leave-one-generator-out, int8.

Used by :mod:`ai_detector.pipeline.model_card` (run that one); each function turns one
stage's output file into Markdown lines, so a figure on the card is the file's figure.
"""

from __future__ import annotations

from typing import Any

WEAK_BAR = 0.85


def fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return lines


def logo_section(detail: dict[str, Any]) -> list[str]:
    """The logo stage's folds: the recipe retrained without a generator, then scored on it.
    The figure a user meeting a new generator should read first."""
    head = detail["headline"]
    rows = []
    for name, fold in detail["folds"].items():
        # The other class origin by origin: a generator that beats only some of them is
        # held back by content (GAN faces against real faces), not caught by its traces.
        by_origin = fold.get("roc_auc_by_against_origin", {})
        rows.append(
            [
                name,
                fold["n"],
                f"{fold['n_against']} {fold['scored_against']}",
                fold["roc_auc"],
                ", ".join(f"{origin} {fmt(value)}" for origin, value in by_origin.items()),
                fold["accuracy"],
            ]
        )
    return [
        "",
        "## Generators never trained on (true leave-one-generator-out)",
        "",
        f"Per fold the recipe is trained again, backbone included, without the held-out "
        f"generator in any split, and scored on it: ROC-AUC mean {fmt(head['logo_mean'])}, "
        f"minimum {fmt(head['logo_min'])}. How: {detail['how']}.",
        "",
        *table(
            [
                "held out",
                "n",
                "scored against",
                "ROC-AUC",
                "against each origin alone",
                "accuracy on it",
            ],
            rows,
        ),
    ]


def logo_weak_spots(detail: dict[str, Any] | None) -> list[str]:
    if not detail:
        return []
    return [
        f"generator `{name}` when never trained on: ROC-AUC {fmt(fold['roc_auc'])}, "
        f"{fold['accuracy']:.0%} of its images called fake (a generator of its kind that "
        f"training never saw is missed more often than the test split suggests)"
        for name, fold in detail["folds"].items()
        if fold["roc_auc"] is not None and fold["roc_auc"] < WEAK_BAR
    ]


def generalisation_section(detail: dict[str, Any]) -> list[str]:
    """The generalise stage's figures: probes on this model's features, and the
    evaluation-only sets scored by the model itself."""
    head = detail["headline"]
    lines = [
        "",
        "## Generalisation (origins, classes and sets never trained on)",
        "",
        f"Leave-one-source-out ROC-AUC mean {fmt(head['loso_auc_mean'])}, minimum "
        f"{fmt(head['loso_auc_min'])}; CIFAKE leave-classes-out accuracy "
        f"{fmt(head['cifake_lco_acc'])}. Upper bounds: a head is fitted again without the "
        f"held-out group, on features of a backbone that was tuned with it. Probe: "
        f"{detail['probe']}.",
        "",
    ]
    loso = detail["leave_one_source_out"]
    lines += table(
        ["held-out origin", "n", "scored against", "ROC-AUC", "accuracy on it"],
        [[g, f["n"], f["n_against"], f["roc_auc"], f["accuracy"]] for g, f in loso.items()],
    )
    lco = detail["cifake_leave_classes_out"]
    if lco:
        lines += ["", "CIFAKE classes held out (trained on the other six):", ""]
        lines += table(
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
            [
                name,
                entry["n"],
                entry["against"],
                entry["roc_auc"],
                again,
                entry["fake_recall"],
                entry.get("false_positive_rate"),  # absent from figures of before 2026-12-07
            ]
        )
        groups = entry["per_group"]
        if len(groups) > 1:  # a set of one origin has its row already
            rows += [
                [f"{name}: {g}", f["n"], "", f["roc_auc"], "", "", ""] for g, f in groups.items()
            ]
    header = ["set", "n", "against", "ROC-AUC", "re-encoded", "fake recall", "reals called AI"]
    lines += table(header, rows)
    return lines


def _spread(latency: dict[str, Any]) -> str:
    if "batch1_ms_p25" not in latency:  # exported before the spread was measured
        return "n/a"
    return f"{latency['batch1_ms_p25']:.1f}-{latency['batch1_ms_p75']:.1f}"


def _choice(export: dict[str, Any]) -> str:
    choice = export.get("choice")
    if not choice or len(choice["within_spread_of_fastest"]) < 2:
        return ""
    tied = ", ".join(choice["within_spread_of_fastest"])
    return f" ({tied} within the measurement's spread; tie-break {choice['tie_break']})"


def int8_section(export: dict[str, Any]) -> list[str]:
    """The export stage's int8 candidates against fp32, and which one ships."""
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
    header = ["candidate", "fp32 share", "agreement", "F1 drop", "mean logit diff", "ms"]
    return [
        "",
        f"int8 candidates vs fp32 on validation (calibration method / leading convolutions "
        f"kept in fp32, bias-corrected; `+fp32`: images near a decision boundary run again "
        f"in fp32); model only, one thread, fp32 {fp32['batch1_ms']:.1f} ms at batch 1 and "
        f"{fp32['batch8_img_per_s']:.0f} img/s at batch 8 (after a warm-up, files interleaved; a "
        f"cascade costs its int8 model plus its share of fp32). Shipped: **{export['promoted']}**"
        f"{_choice(export)}.",
        "",
        *table([*header, "ms p25-p75", "img/s"], rows),
    ]
