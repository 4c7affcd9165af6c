"""The seeds module end to end on tiny images: each seed really trains, exports and is judged.

Two origins of tiny images (real photos, red fakes) are trained by the pipeline's own
train(), export() and generalise() at two seeds; the summary must be the spread of what
those runs gave, and a second call must read the figures back instead of training again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ai_detector.pipeline import seeds as module
from ai_detector.pipeline.data.records import write_records
from tests.conftest import TINY_TRAINING
from tests.datasets_helpers import image_bytes, origin_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seeds")
    made = origin_records(root, (("photos", "Real", 8), ("red", "AI-generated", 8)))
    write_records(made, root / "records.csv")
    # Evaluation-only: unseen red fakes, and real photos alone (ranked against test fakes).
    sets = []
    for name, cls, fake in (("unseen", "fake", True), ("cameras", "real", False)):
        for i in range(3):
            path = root / name / cls / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(image_bytes(500 + 10 * len(sets) + i, fake))
        label = "AI-generated" if fake else "Real"
        sets.append({"name": name, "layout": "folder", "path": str(root / name)})
        sets[-1]["classes"] = {cls: label}
    (root / "eval.yaml").write_text(yaml.safe_dump({"sources": sets}))
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"].update(TINY_TRAINING, recipe="head", version="tiny-seeds", teacher_weight=0.0)
    raw["generalise"].update(eval_sources=str(root / "eval.yaml"), threads=1, batch_size=8)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    return root


def _main(work: Path, out: Path, *seeds: int) -> int:
    argv = ["--params", str(work / "params.yaml"), "--records", str(work / "records.csv")]
    argv += ["--out", str(out), "--cache", "", "--teacher", str(work / "teacher")]
    return module.main([*argv, "--seeds", *map(str, seeds)])


def test_each_seed_trains_its_own_model_and_the_summary_is_their_spread(
    work, tmp_path, monkeypatch, capsys
):
    seen = []
    train = module.train

    def spy_train(params, records_path, out_dir, cache=None, soft_targets=None):
        seen.append(params.seed)
        return train(params, records_path, out_dir, cache, soft_targets=soft_targets)

    monkeypatch.setattr(module, "train", spy_train)
    monkeypatch.setenv("AI_DETECTOR_MLFLOW", "0")
    out = tmp_path / "seeds"
    assert _main(work, out, 3, 11) == 0
    assert seen == [3, 11]

    result = json.loads((out / "seeds.json").read_text())
    runs = {int(k): v for k, v in result["runs"].items()}
    assert set(runs) == {3, 11}
    for seed, run in runs.items():
        # The run's own figures, as its folder keeps them: an exported fp32 model, judged.
        assert json.loads((out / f"seed-{seed}" / "generalise.json").read_text()) == run
        metadata = json.loads((out / f"seed-{seed}" / "model" / "metadata.json").read_text())
        assert metadata["precision"] == "fp32" and metadata["version"] == run["model_version"]
        assert run["model_version"].startswith("tiny-seeds+")
        assert run["cameras_fpr"] is not None and "unseen_fpr" not in run
        assert run["eval_mean"] == run["unseen_auc"]  # the only set that holds fakes
    # Two seeds, two sets of weights: the checkpoint digest in the version differs.
    assert runs[3]["model_version"] != runs[11]["model_version"]
    summary = result["summary"]
    for key in ("loso_auc_mean", "unseen_auc", "cameras_auc", "cameras_fpr", "eval_mean"):
        values = [runs[3][key], runs[11][key]]
        assert summary[key]["min"] == min(values) and summary[key]["max"] == max(values)
        assert summary[key]["spread"] == pytest.approx(max(values) - min(values))
        assert summary[key]["mean"] == pytest.approx(sum(values) / 2)
    assert "model_version" not in summary and "cifake_lco_acc" not in summary  # None here
    printed = capsys.readouterr().out
    assert "| 3 |" in printed and "| 11 |" in printed and "| spread |" in printed

    # Called again with one more seed: the two done are read back, only the new one trains.
    seen.clear()
    assert _main(work, out, 3, 11, 5) == 0
    assert seen == [5]
    again = json.loads((out / "seeds.json").read_text())["runs"]
    assert again["3"] == result["runs"]["3"] and again["11"] == result["runs"]["11"]


def test_repeated_seeds_are_refused_before_any_training(work, tmp_path, monkeypatch):
    monkeypatch.setattr(module, "train", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setenv("AI_DETECTOR_MLFLOW", "0")
    with pytest.raises(ValueError, match="distinct seeds"):
        _main(work, tmp_path / "seeds", 3, 3)
