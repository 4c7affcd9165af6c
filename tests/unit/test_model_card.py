"""The model card states the figures of the pipeline's own files, and flags weak spots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ai_detector.inference.metadata import ModelMetadata
from ai_detector.pipeline.model_card import WEAK_BAR, main
from tests.conftest import TINY_INPUT


def metrics(accuracy: float, balanced: float) -> dict:
    return {
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "macro_f1": 0.801,
        "roc_auc_fake": None,
        "log_loss": 0.345,
        "ece": 0.0234,
        "n": 40,
    }


def write_inputs(folder: Path, teacher_weight: float | None = None) -> list[str]:
    latency = {
        "batch1_ms": 9.87,
        "batch1_ms_p25": 9.5,
        "batch1_ms_p75": 10.25,
        "batch8_img_per_s": 123.4,
    }
    export = {
        "latency_fp32": latency,
        "promoted": "int8-MinMax/float1",
        "model_size_mb": 4.321,
        "int8": {
            "MinMax/float1": {
                "agreement": 0.9951,
                "macro_f1_fp32": 0.8,
                "macro_f1": 0.79,
                "mean_logit_diff": 0.0567,
                "latency": latency,
            },
        },
    }
    model = folder / "model"
    ModelMetadata(
        labels=("Real", "AI-generated"),
        version="card-test-7",
        fake_threshold=0.6125,
        temperature=1.4321,
        precision="int8-MinMax/float1",
        extra={"export": export, "teacher_weight": teacher_weight},
        **TINY_INPUT,
    ).save(model)
    per_class = {
        "Real": {"precision": 0.912, "recall": 0.934, "f1": 0.923, "support": 30},
        "AI-generated": {"precision": 0.777, "recall": 0.612, "f1": 0.685, "support": 10},
    }
    evaluation = {
        "test": {**metrics(0.888, 0.777), "per_class": per_class},
        "per_source": {
            "strong": {**metrics(0.95, 0.951), "n": 25},
            "weakling": {**metrics(0.7, 0.654), "n": 15},
        },
        "robustness": {
            "jpeg_q50": {
                "accuracy": 0.812,
                "balanced_accuracy": 0.7,
                "macro_f1": 0.7,
                "macro_f1_drop": 0.101,
            }
        },
    }
    (folder / "evaluate.json").write_text(json.dumps(evaluation))
    report = {"counts": {"strong": {"Real": {"train": 71, "val": 13, "test": 17}}}}
    (folder / "report.json").write_text(json.dumps(report))
    return [
        "--model",
        str(model),
        "--evaluation",
        str(folder / "evaluate.json"),
        "--report",
        str(folder / "report.json"),
        "--params",
        str(Path(__file__).resolve().parents[2] / "params.yaml"),
    ]


def test_every_figure_comes_from_the_files(tmp_path):
    assert main(write_inputs(tmp_path)) == 0
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "# Model card: ai-detector card-test-7" in card
    assert "P(not Real) >= 0.613" in card and "temperature 1.432" in card
    assert "int8-MinMax/float1, 4.321 MB" in card
    assert "| strong | Real | 71 | 13 | 17 |" in card
    assert "| 0.888 | 0.777 | 0.801 | n/a | 0.345 | 0.023 |" in card
    assert "| AI-generated | 0.777 | 0.612 | 0.685 | 10 |" in card
    assert "| jpeg_q50 | 0.812 | 0.700 | 0.700 | 0.101 |" in card
    assert "fp32 9.9 ms at batch 1 and 123 img/s" in card
    assert "| MinMax/float1 | 0.000 | 0.995 | 0.010 | 0.057 | 9.870 | 9.5-10.2 | 123.400 |" in card


@pytest.mark.parametrize("weight", [None, 0.0])
def test_a_model_taught_without_the_teacher_says_nothing_of_it(tmp_path, weight):
    main(write_inputs(tmp_path, weight))
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "teacher" not in card


def test_the_teachers_share_in_training_is_on_the_card(tmp_path):
    main(write_inputs(tmp_path, 0.25))
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert (
        "learnt towards 0.75 x its label + 0.25 x the out-of-fold P(not real) of the CLIP" in card
    )


def test_weak_sources_and_classes_are_listed(tmp_path):
    main(write_inputs(tmp_path))
    weak = (tmp_path / "model" / "MODEL_CARD.md").read_text().split("## Weak spots")[1]
    assert "source `weakling`: balanced accuracy 0.654" in weak
    assert "class `AI-generated`: recall 0.612" in weak
    assert "strong" not in weak and "class `Real`" not in weak
    assert 0.654 < WEAK_BAR < 0.934


def test_the_deepfake_limit_is_only_on_a_model_that_answers_deepfake(tmp_path):
    # The card-test model answers Real / AI-generated only.
    main(write_inputs(tmp_path))
    weak = (tmp_path / "model" / "MODEL_CARD.md").read_text().split("## Weak spots")[1]
    assert "self-blended" not in weak
    assert "one seeded split" in weak


def _logo_detail(folder: Path) -> Path:
    fold = {"n": 200, "n_against": 764, "scored_against": "test reals of the other origins"}
    detail = {
        "headline": {"logo_mean": 0.6336, "logo_min": 0.3148},
        "how": "per fold: retrained without it",
        "folds": {
            "midjourney": {**fold, "roc_auc": 0.9525, "accuracy": 0.857},
            "stylegan2": {
                **fold,
                "roc_auc": 0.3148,
                "accuracy": 0.0,
                "roc_auc_by_against_origin": {"ffhq": 0.2012, "imagenet": 0.4567},
            },
        },
    }
    path = folder / "logo_detail.json"
    path.write_text(json.dumps(detail))
    return path


def test_generators_never_trained_on_are_on_the_card_and_weak_ones_listed(tmp_path):
    assert main([*write_inputs(tmp_path), "--logo", str(_logo_detail(tmp_path))]) == 0
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "ROC-AUC mean 0.634, minimum 0.315. How: per fold: retrained without it." in card
    assert "| midjourney | 200 | 764 test reals of the other origins | 0.953 |  | 0.857 |" in card
    # Against each origin of real photos alone: GAN faces rank lowest against real faces.
    row = "| stylegan2 | 200 | 764 test reals of the other origins | 0.315 |"
    assert f"{row} ffhq 0.201, imagenet 0.457 | 0.000 |" in card
    weak = card.split("## Weak spots")[1]
    assert "generator `stylegan2` when never trained on: ROC-AUC 0.315, 0% of its images" in weak
    assert "midjourney" not in weak


def test_a_card_without_the_logo_stage_has_no_such_section(tmp_path):
    main(write_inputs(tmp_path))
    assert "leave-one-generator-out" not in (tmp_path / "model" / "MODEL_CARD.md").read_text()
