"""Both training recipes on a tiny dataset: the checkpoint loads and has learnt the task."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from ai_detector.inference.preprocess import ImageSpec, preprocess_bytes
from ai_detector.pipeline.params import PrepareParams, TrainParams
from ai_detector.pipeline.prepare import prepare
from ai_detector.pipeline.train import load_checkpoint, train
from tests.conftest import encode_image, textured_image
from tests.datasets_helpers import make_folder_dataset

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    work = tmp_path_factory.mktemp("train")
    root = make_folder_dataset(work / "set", per_class=12)
    sources = work / "sources.yaml"
    sources.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "set",
                        "layout": "folder",
                        "path": str(root),
                        "classes": {"real": "Real", "fake": "AI-generated"},
                    }
                ]
            }
        )
    )
    prepare(
        PrepareParams(sources=str(sources), seed=0, val_fraction=0.25, test_fraction=0.25),
        work / "prepared",
    )
    return work / "prepared" / "records.csv"


@pytest.mark.parametrize("recipe", ["head", "finetune"])
def test_recipe_learns_and_saves_a_loadable_checkpoint(records, tmp_path, recipe):
    params = TrainParams(
        recipe=recipe,
        epochs=30,
        augment_views=1,
        batch_size=8,
        finetune_epochs=1,
        finetune_batch_size=8,
    )
    metrics = train(params, records, tmp_path, cache_dir=tmp_path / "cache")
    assert metrics["labels"] == ["Real", "AI-generated"]
    if recipe == "finetune":
        assert [h["epoch"] for h in metrics["finetune_history"]] == [-1, 0]
    saved = json.loads((tmp_path / "train_metrics.json").read_text())
    assert saved["temperature"] == pytest.approx(metrics["temperature"])
    model, metadata = load_checkpoint(tmp_path / "checkpoint.pt")
    assert metadata.extra["recipe"] == recipe
    spec = ImageSpec()
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
        train(TrainParams(recipe="magic"), records, tmp_path)


def test_second_run_reuses_cached_features(records, tmp_path, caplog):
    params = TrainParams(epochs=5, augment_views=1, batch_size=8)
    train(params, records, tmp_path / "a", cache_dir=tmp_path / "cache")
    caplog.set_level("INFO", logger="ai_detector.pipeline.train")
    train(params, records, tmp_path / "b", cache_dir=tmp_path / "cache")
    assert any("0 images computed" in message for message in caplog.messages)
