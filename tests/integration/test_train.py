"""Both training recipes on a tiny dataset: the checkpoint loads and has learnt the task."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ai_detector.inference.preprocess import preprocess_bytes
from ai_detector.pipeline.backbone import backbone_image_spec
from ai_detector.pipeline.data.records import read_records
from ai_detector.pipeline.model import load_checkpoint
from ai_detector.pipeline.prepare import prepare
from ai_detector.pipeline.train import train
from tests.conftest import TINY_TRAINING, encode_image, repo_params, textured_image
from tests.datasets_helpers import make_folder_dataset, write_folder_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    work = tmp_path_factory.mktemp("train")
    root = make_folder_dataset(work / "set", per_class=12)
    sources = work / "sources.yaml"
    write_folder_sources(sources, root)
    prepare(
        repo_params(
            "prepare",
            sources=str(sources),
            seed=0,
            val_fraction=0.25,
            test_fraction=0.25,
            deepfakes_from="",
            reconstruct_from=(),
        ),
        work / "prepared",
    )
    return work / "prepared" / "records.csv"


def tiny_set_params(**changes):
    return repo_params("train", **(TINY_TRAINING | changes))


@pytest.mark.parametrize("recipe", ["head", "finetune"])
def test_recipe_learns_and_saves_a_loadable_checkpoint(records, tmp_path, recipe):
    params = tiny_set_params(recipe=recipe, finetune_epochs=1, teacher_weight=0.0)
    metrics = train(params, records, tmp_path, cache_dir=tmp_path / "cache")
    assert metrics["labels"] == ["Real", "AI-generated"]
    if recipe == "finetune":
        assert [h["epoch"] for h in metrics["finetune_history"]] == [-1, 0]
    saved = json.loads((tmp_path / "train_metrics.json").read_text())
    assert saved["temperature"] == pytest.approx(metrics["temperature"])
    model, metadata = load_checkpoint(tmp_path / "checkpoint.pt")
    assert metadata.extra["recipe"] == recipe
    assert "teacher_weight" not in metadata.extra  # taught by nothing: no mention
    spec = metadata.image_spec
    assert spec == backbone_image_spec()
    fake = preprocess_bytes(
        encode_image(textured_image((64, 48), seed=901, tint="red"), "JPEG"), spec
    )
    real = preprocess_bytes(encode_image(textured_image((64, 48), seed=902), "JPEG"), spec)
    with torch.no_grad():
        logits = (
            model(torch.from_numpy(fake[None]))[0],
            model(torch.from_numpy(real[None]))[0],
        )
    assert int(logits[0].argmax()) == metadata.labels.index("AI-generated")
    assert int(logits[1].argmax()) == metadata.labels.index("Real")


def test_unknown_recipe_is_refused(records, tmp_path):
    with pytest.raises(ValueError, match="recipe"):
        train(repo_params("train", recipe="magic", teacher_weight=0.0), records, tmp_path)


def test_second_run_reuses_cached_features(records, tmp_path, caplog):
    params = repo_params("train", epochs=5, augment_views=1, batch_size=8)
    train(params, records, tmp_path / "a", cache_dir=tmp_path / "cache")
    caplog.set_level("INFO", logger="ai_detector.pipeline.head")
    train(params, records, tmp_path / "b", cache_dir=tmp_path / "cache")
    assert any("0 images computed" in message for message in caplog.messages)


def test_the_finetune_learns_the_soft_targets_it_is_given(records, tmp_path):
    """Targets of 0.5/0.5 for every training image: cross-entropy against them cannot fall
    below their entropy, ln 2, while against the labels it falls below it: the fine-tune
    learns the targets it is given, not the labels."""
    params = tiny_set_params(recipe="finetune", finetune_epochs=2)
    cache = tmp_path / "cache"
    uniform = {r.sha256: np.array([0.5, 0.5]) for r in read_records(records, "train")}
    soft = train(params, records, tmp_path / "soft", cache, soft_targets=uniform)
    hard = train(params, records, tmp_path / "hard", cache)
    soft_losses = [h["train_loss"] for h in soft["finetune_history"][1:]]
    hard_losses = [h["train_loss"] for h in hard["finetune_history"][1:]]
    assert min(soft_losses) >= math.log(2) - 1e-4, soft_losses
    assert min(hard_losses) < math.log(2), hard_losses
    # Validation still judges by the labels: the same images, the same kind of loss.
    assert hard["finetune_history"][0] == soft["finetune_history"][0]


def test_soft_targets_must_cover_the_training_images_and_need_the_finetune(records, tmp_path):
    params = repo_params("train", recipe="finetune", epochs=2, finetune_epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="no soft target"):
        train(params, records, tmp_path, soft_targets={})
    with pytest.raises(ValueError, match="finetune recipe only"):
        head = repo_params("train", recipe="head", teacher_weight=0.0)
        train(head, records, tmp_path, soft_targets={})
