"""run_stage: the skeleton every stage's main() shares."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ai_detector.pipeline.stage import run_stage

ROOT = Path(__file__).resolve().parents[2]


def test_paths_params_and_body(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_DETECTOR_MLFLOW", "0")
    seen = []
    argv = ["--params", str(ROOT / "params.yaml"), "--out", str(tmp_path)]
    code = run_stage(
        "train",
        "doc",
        lambda args, params, mlflow: seen.append((args, params, mlflow)),
        argv,
        {"records": "data/prepared/records.csv", "out": "models", "model": None},
    )
    assert code == 0
    ((args, params, mlflow),) = seen
    assert (args.records, args.out, args.model) == (
        Path("data/prepared/records.csv"),
        tmp_path,
        None,
    )
    assert (
        params.train.epochs == yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["epochs"]
    )
    assert mlflow is None  # tracking turned off


def test_a_bad_params_file_stops_the_stage_before_any_work(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    del raw["train"]["lr"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    called = []
    with pytest.raises(ValueError, match=r"train is missing \['lr'\]"):
        run_stage("train", None, lambda *a: called.append(a), ["--params", str(path)], {})
    assert called == []


def test_an_empty_path_option_means_none():
    from pathlib import Path

    from ai_detector.pipeline.stage import optional_path, stage_parser

    args = stage_parser(None, {"cache": "data/features"}).parse_args(["--cache", ""])
    assert optional_path(args.cache) is None
    assert optional_path(Path("data/features")) == Path("data/features")
