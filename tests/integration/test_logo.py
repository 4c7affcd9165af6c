"""The logo stage end to end on tiny images: one fold really trains without its origin.

Three origins: real photos, red fakes ("red-a") and more red fakes ("red-b", held out).
The fold's model is trained by the pipeline's own train() and export(), towards soft
targets from a teacher fitted on the fold's records (its embeddings here: each image's
mean colour, as the teacher stage's file holds them), and scored by the Predictor; spies
on those calls show what each one was given.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from ai_detector.inference.preprocess import decode_image
from ai_detector.pipeline import logo as stage
from ai_detector.pipeline.data.embeddings import write_embeddings
from ai_detector.pipeline.data.records import read_records, write_records
from ai_detector.pipeline.params import load_params
from tests.conftest import TINY_TRAINING
from tests.datasets_helpers import origin_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# (origin, label, count): 4 train, 2 val, 2 test of each kept origin; the held-out one
# has records in every split, none of which may reach training.
ORIGINS = (("photos", "Real", 8), ("red-a", "AI-generated", 8), ("red-b", "AI-generated", 8))


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("logo")
    made = origin_records(root, ORIGINS)
    write_records(made, root / "records.csv")
    fitting = [r for r in made if r.split != "test"]
    colours = [np.asarray(decode_image(r.read_bytes()), np.float32).mean((0, 1)) for r in fitting]
    write_embeddings(root / "teacher", [r.sha256 for r in fitting], np.stack(colours) / 255)
    return root / "records.csv"


def _params(tmp_path: Path, holdout: list[list[str]]) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"].update(
        TINY_TRAINING,
        finetune_epochs=8,  # the fold's own count below must win
        version="tiny-logo",
        teacher_weight=0.5,
    )
    raw["logo"].update(holdout=holdout, finetune_epochs=1, batch_size=8, threads=1)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_fold_trains_without_its_origin_and_is_scored_on_it(records, tmp_path, monkeypatch):
    seen: dict[str, list] = {"train": [], "export": [], "scored": [], "teacher": []}
    train, export, score = stage.train, stage.export, stage.score_records
    teacher_targets = stage.teacher_targets

    def spy_teacher(given, folder, params):
        seen["teacher"].append(list(given))
        return teacher_targets(given, folder, params)

    def spy_train(params, records_path, out_dir, cache=None, soft_targets=None):
        seen["train"].append((params, read_records(records_path), soft_targets))
        return train(params, records_path, out_dir, cache, soft_targets=soft_targets)

    def spy_export(params, checkpoint, records_path, out_dir):
        seen["export"].append((params, read_records(records_path)))
        return export(params, checkpoint, records_path, out_dir)

    def spy_score(predictor, chosen, batch_size):
        scores, verdicts = score(predictor, chosen, batch_size)
        seen["scored"].append((list(chosen), scores, verdicts))
        return scores, verdicts

    monkeypatch.setattr(stage, "train", spy_train)
    monkeypatch.setattr(stage, "export", spy_export)
    monkeypatch.setattr(stage, "score_records", spy_score)
    monkeypatch.setattr(stage, "teacher_targets", spy_teacher)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # MLflow's artefacts (./mlruns) stay out of the repository
    metrics, detail = tmp_path / "metrics" / "logo.json", tmp_path / "metrics" / "detail.json"
    argv = ["--params", str(_params(tmp_path, [["red-b"]])), "--records", str(records)]
    argv += ["--metrics", str(metrics), "--detail", str(detail), "--cache", ""]
    assert stage.main([*argv, "--teacher", str(records.parent / "teacher")]) == 0

    # Training, its teacher and the export's parity check never saw red-b, in any split.
    (taught_by,) = seen["teacher"]
    assert {r.origin for r in taught_by} == {"photos", "red-a"}
    ((train_params, trained_on, targets),) = seen["train"]
    assert {r.origin for r in trained_on} == {"photos", "red-a"}
    assert set(targets) == {r.sha256 for r in trained_on if r.split == "train"}
    assert train_params.teacher_weight == 0.5
    assert train_params.finetune_epochs == 1 and train_params.recipe == "finetune"
    ((export_params, exported_with),) = seen["export"]
    assert "red-b" not in {r.origin for r in exported_with} and not export_params.quantize
    fold = json.loads(detail.read_text())["folds"]["red-b"]
    assert fold["n_train"] == 8 and fold["n_val"] == 4  # photos and red-a only
    assert fold["finetune_epochs"] == 1 and fold["train_seconds"] > 0
    assert fold["teacher_weight"] == 0.5

    # Scored: all eight red-b fakes, against the test reals of the other origins (2).
    (held, held_scores, held_fake), (against, against_scores, against_fake) = seen["scored"]
    everything = read_records(records)
    assert held == [r for r in everything if r.origin == "red-b"]
    assert against == [r for r in everything if r.origin == "photos" and r.split == "test"]
    assert (fold["n"], fold["n_fake"], fold["n_against"]) == (8, 8, 2)
    y = np.r_[np.ones(8, bool), np.zeros(2, bool)]
    assert fold["roc_auc"] == pytest.approx(roc_auc_score(y, np.r_[held_scores, against_scores]))
    assert fold["roc_auc_by_against_origin"] == {"photos": pytest.approx(fold["roc_auc"])}
    assert fold["accuracy"] == pytest.approx(held_fake.mean())
    assert fold["accuracy_against"] == pytest.approx((~against_fake).mean())
    # red-a taught "red is fake": the unseen red generator ranks above the reals
    # (0.875 here; not exact, as eight training images per origin learn little).
    assert fold["roc_auc"] > 0.5

    headline = json.loads(metrics.read_text())
    assert headline == {"logo_mean": fold["roc_auc"], "logo_min": fold["roc_auc"]}

    _check_the_mlflow_run(tmp_path / "mlflow.db", fold["roc_auc"])


def _check_the_mlflow_run(store: Path, roc_auc: float) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    (run,) = client.search_runs([client.get_experiment_by_name("ai-detector").experiment_id])
    assert run.data.tags["stage"] == "logo"
    assert run.data.metrics["logo_mean"] == roc_auc
    assert run.data.params["holdout"] == "(('red-b',),)"


def test_unknown_origins_fail_before_any_training(records, monkeypatch):
    monkeypatch.setattr(stage, "train", lambda *a, **k: pytest.fail("trained"))
    params = load_params(ROOT / "params.yaml")
    logo = dataclasses.replace(params.logo, holdout=(("red-b",), ("gpt-image",)))
    with pytest.raises(ValueError, match=r"no record has origin \['gpt-image'\]") as error:
        stage.logo(dataclasses.replace(params, logo=logo), records, None, records.parent)
    assert "['photos', 'red-a', 'red-b']" in str(error.value)
