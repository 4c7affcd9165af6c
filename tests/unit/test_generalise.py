"""The generalise stage on tiny images and the tests' tiny ONNX model (channel means -> logits).

The tiny model's pooled features are the three colour means, so a probe learns "red means
fake": a held-out group of red fakes is still caught, a held-out group of blue fakes is not,
which only happens if the fold really trained without that group.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ai_detector.pipeline.data.records import Record, sha256_file, write_records
from ai_detector.pipeline.data.sources import SourceConfig, SourceError, read_source
from ai_detector.pipeline.eval_sets import resized_face
from ai_detector.pipeline.generalise import generalise, short_names
from ai_detector.pipeline.generalise_folds import cifake_class
from ai_detector.pipeline.onnx_features import FeatureExtractor, cached_run
from tests.conftest import encode_image, repo_params, textured_image, write_tiny_onnx_model

TRAIN = repo_params("train", epochs=60, patience=60, lr=0.05, batch_size=16, weight_decay=0.0)


def _image(path: Path, seed: int, tint: str, size: tuple[int, int] = (320, 240)) -> Path:
    # Drawn at 320 px and then resized: the texture's colour means settle, so only the
    # tint tells the classes apart.
    path.parent.mkdir(parents=True, exist_ok=True)
    image = textured_image((320, 240), seed=seed, tint=tint).resize(size)
    path.write_bytes(encode_image(image, "JPEG"))
    return path


def _records(root: Path) -> list[Record]:
    """Reals of two origins, red fakes of two, blue fakes of one; split 4 train/2 val/2 test."""
    kinds = [
        ("photos-a", "Real", "none"),
        ("photos-b", "Real", "none"),
        ("red-a", "AI-generated", "red"),
        ("red-b", "AI-generated", "red"),
        ("blue", "AI-generated", "blue"),
    ]
    records = []
    for k, (group, label, tint) in enumerate(kinds):
        for i in range(8):
            path = _image(root / group / f"{group}_{i}.jpg", 100 * k + i, tint)
            split = "train" if i < 4 else "val" if i < 6 else "test"
            records.append(Record(str(path), label, "tiny", sha256_file(path), split, "", group))
    return records


def test_groups_by_class_prefix_and_manifest(tmp_path):
    root = tmp_path / "set"
    _image(root / "real" / "imagenet_1.jpg", 1, "none")
    _image(root / "real" / "dreambooth_dog__00.jpg", 2, "none")
    _image(root / "fake" / "sd1x-objects_cat.jpg", 3, "red")
    by_prefix = SourceConfig(
        "set",
        "folder",
        str(root),
        {"real": "Real", "fake": "AI-generated"},
        group_by="prefix",
        groups={"sd1x-objects": "sd1"},
    )
    assert sorted(r.group for r in read_source(by_prefix)) == ["dreambooth", "imagenet", "sd1"]
    by_class = dataclasses.replace(by_prefix, group_by="class", groups={"real": "photos"})
    assert sorted(r.group for r in read_source(by_class)) == ["fake", "photos", "photos"]
    plain = dataclasses.replace(by_prefix, group_by="")
    assert {r.origin for r in read_source(plain)} == {"set"}
    manifest = [
        {"file": "real/imagenet_1.jpg", "generator": "none"},
        {"file": "real/dreambooth_dog__00.jpg", "generator": "none"},
        {"file": "fake/sd1x-objects_cat.jpg", "generator": "DeepFloyd IF (IF-ddim-50)"},
    ]
    (root / "manifest.json").write_text(json.dumps(manifest))
    by_manifest = dataclasses.replace(by_prefix, group_by="manifest", groups={})
    groups = {Path(r.path).name: r.group for r in read_source(by_manifest)}
    assert groups["sd1x-objects_cat.jpg"] == "DeepFloyd IF"
    (root / "manifest.json").write_text(json.dumps(manifest[:2]))
    with pytest.raises(SourceError, match="no generator"):
        read_source(by_manifest)
    with pytest.raises(ValueError, match="group_by"):
        dataclasses.replace(by_prefix, group_by="folder")


def test_keep_groups_takes_one_generator_and_names_a_group_that_is_not_there(tmp_path):
    root = tmp_path / "set"
    _image(root / "fake" / "sdxl_1.jpg", 1, "red")
    _image(root / "fake" / "flux_1.jpg", 2, "red")
    _image(root / "fake" / "flux_2.jpg", 3, "red")
    manifest = [
        {"file": "fake/sdxl_1.jpg", "generator": "SDXL"},
        {"file": "fake/flux_1.jpg", "generator": "FLUX.1-dev"},
        {"file": "fake/flux_2.jpg", "generator": "FLUX.1-schnell"},
    ]
    (root / "manifest.json").write_text(json.dumps(manifest))
    flux = SourceConfig(
        "faces",
        "folder",
        str(root),
        {"fake": "AI-generated"},
        group_by="manifest",
        groups={"FLUX.1-dev": "FLUX.1", "FLUX.1-schnell": "FLUX.1"},
        keep_groups=("FLUX.1",),
    )
    assert sorted(Path(r.path).name for r in read_source(flux)) == ["flux_1.jpg", "flux_2.jpg"]
    sdxl = dataclasses.replace(flux, keep_groups=("SDXL",))
    assert [Path(r.path).name for r in read_source(sdxl)] == ["sdxl_1.jpg"]
    # The cap counts the kept records: one FLUX face of two, whichever the hash picks.
    one = read_source(dataclasses.replace(flux, max_per_class=1))
    assert len(one) == 1 and one[0].group == "FLUX.1"
    with pytest.raises(SourceError, match=r"\['DALL-E 3'\] match no record.*'FLUX.1', 'SDXL'"):
        read_source(dataclasses.replace(flux, keep_groups=("DALL-E 3",)))
    with pytest.raises(ValueError, match="keep_groups needs a group_by"):
        dataclasses.replace(flux, group_by="")


def test_cifake_class_is_the_number_in_parentheses():
    assert cifake_class("train/REAL/1234 (7).jpg") == "7"
    assert cifake_class("train/FAKE/1234.jpg") == "1"


def test_features_are_what_the_head_reads_and_are_cached(tmp_path):
    meta = write_tiny_onnx_model(tmp_path / "model")
    extractor = FeatureExtractor(tmp_path / "model", threads=1)
    records = _records(tmp_path / "data")[:6]
    runs = []
    run = extractor.run
    extractor.run = lambda batch: runs.append(len(batch)) or run(batch)  # type: ignore[method-assign]
    features, logits = cached_run(extractor, records, tmp_path / "cache", batch_size=4)
    assert features.shape == (6, 3) and logits.shape == (6, len(meta.labels))
    # The tiny head: logits = means @ W + B, W mapping red to AI-generated.
    assert np.allclose(logits[:, 1] + 1.0, 6.0 * features[:, 0], atol=1e-4)
    again, _ = cached_run(extractor, records[::-1], tmp_path / "cache", batch_size=4)
    assert runs == [4, 2]  # nothing computed the second time
    assert np.array_equal(again, features[::-1])


@pytest.mark.slow
def test_leave_one_source_out_really_leaves_the_group_out(tmp_path):
    write_tiny_onnx_model(tmp_path / "model")
    records = _records(tmp_path / "data")
    params = repo_params("generalise", eval_sources="", threads=1)  # no evaluation-only sets

    def folds(subset: list[Record]) -> tuple[dict, dict]:
        write_records(subset, tmp_path / "records.csv")
        return generalise(params, TRAIN, tmp_path / "model", tmp_path / "records.csv", None)

    _, without_blue = folds([r for r in records if r.origin != "blue"])
    loso = without_blue["leave_one_source_out"]
    assert set(loso) == {"photos-a", "photos-b", "red-a", "red-b"}
    assert loso["red-a"]["roc_auc"] == 1.0  # red-b taught "red is fake"
    assert loso["photos-a"]["roc_auc"] == 1.0
    headline, detail = folds(records)
    loso = detail["leave_one_source_out"]
    assert loso["blue"]["roc_auc"] < 0.5  # nothing taught blue: it looks less fake than reals
    # A fakes-only group is scored against the test reals of the other groups.
    assert loso["blue"]["n"] == 8 and loso["blue"]["n_against"] == 4
    assert headline["loso_auc_min"] == loso["blue"]["roc_auc"]
    assert headline["cifake_lco_acc"] is None  # no CIFAKE source here


def test_the_callers_torch_threads_come_back(tmp_path):
    # The probes fit on one thread; a fine-tune run after this in the same process
    # (ai_detector.pipeline.tuned_recipes) ran at half speed while they did not come back.
    write_tiny_onnx_model(tmp_path / "model")
    write_records(_records(tmp_path / "data"), tmp_path / "records.csv")
    params = repo_params("generalise", eval_sources="", threads=1)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generalise(params, TRAIN, tmp_path / "model", tmp_path / "records.csv", None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_cifake_classes_and_evaluation_sets(tmp_path):
    # Two labels: the three-label tiny model's Deepfake logit reads blue, which neutral
    # images carry, and evaluation-only sets are scored by the model itself.
    write_tiny_onnx_model(tmp_path / "model", ("Real", "AI-generated"))
    records = [r for r in _records(tmp_path / "data") if r.origin != "blue"]
    for k, cls in enumerate(("", " (2)", " (3)", " (4)")):
        for i, (label, tint) in enumerate((("Real", "none"), ("AI-generated", "red")) * 3):
            path = _image(
                tmp_path / "cifake" / f"{k}{i}{cls}.jpg", 900 + 10 * k + i, tint, (32, 32)
            )
            split = ("train", "val", "test")[i // 2]
            records.append(Record(str(path), label, "cifake", sha256_file(path), split))
    write_records(records, tmp_path / "records.csv")
    faces = tmp_path / "faces"
    for i in range(5):
        _image(faces / "fake" / f"f{i}.jpg", 700 + i, "red")
    sources = {
        "sources": [
            {"name": "faces", "layout": "folder", "path": str(faces), "classes": {"fake": "AI"}}
        ]
    }
    sources["sources"][0]["classes"] = {"fake": "AI-generated"}
    cameras = tmp_path / "cameras"
    for i in range(3):
        _image(cameras / "real" / f"c{i}.jpg", 800 + i, "none")
    camera_source = {"name": "cameras", "layout": "folder", "path": str(cameras)}
    sources["sources"].append({**camera_source, "classes": {"real": "Real"}})
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(sources))
    params = repo_params(
        "generalise",
        eval_sources=str(tmp_path / "eval.yaml"),
        cifake_holdout=(("1", "2"), ("3", "4")),
        faces_source="faces",
        face_reals="photos-a",
        threads=1,
    )
    headline, detail = generalise(params, TRAIN, tmp_path / "model", tmp_path / "records.csv", None)
    lco = detail["cifake_leave_classes_out"]
    assert set(lco) == {"1+2", "3+4"} and lco["1+2"]["n"] == 12
    assert headline["cifake_lco_acc"] == 1.0  # red fakes, whatever the class
    entry = detail["evaluation_sets"]["faces"]
    assert entry["against"] == "photos-a test faces" and entry["n_against"] == 2
    assert headline["faces_auc"] == entry["roc_auc"] == 1.0
    assert entry["fake_recall"] == 1.0
    # Re-encoded alike (long side 1600, JPEG q75), red stays red: nothing moves.
    assert entry["roc_auc_reencoded"] == 1.0 and entry["reencode_diff"] == 0.0
    assert headline["reencode_diff"] == 0.0
    # Camera photos alone: ranked against the red test fakes, none called not real.
    cameras_entry = detail["evaluation_sets"]["cameras"]
    assert cameras_entry["against"] == "test fakes" and cameras_entry["roc_auc"] == 1.0
    assert headline["cameras_fpr"] == cameras_entry["false_positive_rate"] == 0.0
    assert "faces_fpr" not in headline  # no real photo in that set


def test_real_faces_are_resized_into_the_fakes_size_range(tmp_path):
    path = _image(tmp_path / "face.jpg", 5, "none", (1024, 1024))
    record = Record(str(path), "Real", "faces", sha256_file(path))
    sides = []
    for seed in range(6):
        with Image.open(io.BytesIO(resized_face(record, 250, 480))) as image:
            sides.append(image.size)
        record = dataclasses.replace(record, sha256=f"{seed}")
    assert all(250 <= max(size) <= 480 for size in sides)
    assert len(set(sides)) > 1


def test_headline_names_are_short_unless_they_clash():
    sets = {"faces-t2i-sdxl-flux": {}, "quiz-a": {}, "quiz-b": {}, "unseen": {}}
    assert short_names(sets) == {
        "faces-t2i-sdxl-flux": "faces",
        "quiz-a": "quiz-a",
        "quiz-b": "quiz-b",
        "unseen": "unseen",
    }
