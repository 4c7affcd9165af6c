"""dvc.yaml is honest about code: every module a stage runs is one of its deps.

Static, so it is cheap and catches an omission before anyone trains: for each stage,
the module its ``cmd`` runs and every ``ai_detector`` module that imports (directly or
through others, function-level imports included) must lie under one of the stage's
deps. A dep may be the file or a folder holding it. `dvc status` then reports the stage
when any of that code changes (tests/integration/test_pipeline.py checks it once).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.imports import SRC, closure, module_file

ROOT = Path(__file__).resolve().parents[2]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def stage_module(stage: dict) -> str:
    match = re.search(r"python -m (ai_detector[\w.]*)", stage["cmd"])
    assert match, f"cannot tell which module runs: {stage['cmd']}"
    return match.group(1)


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(ROOT)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_module_a_stage_runs_is_one_of_its_deps(name):
    stage = STAGES[name]
    deps = [str(dep) for dep in stage.get("deps", [])]
    code = {module_file(m) for m in closure(stage_module(stage))}
    missing = sorted(str(p.relative_to(ROOT)) for p in code if p and not covered(p, deps))
    assert missing == [], f"stage {name} runs code it does not depend on: {missing}"


def test_the_check_sees_function_level_and_indirect_imports():
    """prepare imports the reconstruction inside a function; train imports softmax
    through inference.decision and the head through its own module."""
    prepare = closure("ai_detector.pipeline.prepare")
    assert "ai_detector.pipeline.data.reconstruct" in prepare
    train = closure("ai_detector.pipeline.train")
    assert {"ai_detector.pipeline.head", "ai_detector.inference.decision"} <= train
    # ...and would fail without the dep: head.py is not under any other train dep.
    deps = [d for d in STAGES["train"]["deps"] if d != "src/ai_detector/pipeline/head.py"]
    assert not covered(SRC / "ai_detector" / "pipeline" / "head.py", deps)


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("src/ai_detector/inference/default_model/model.onnx", True),
        ("src/ai_detector/inference/__pycache__/predictor.cpython-311.pyc", True),
        ("src/ai_detector/inference/predictor.py", False),
    ],
)
def test_bytecode_and_the_shipped_model_do_not_count_as_code(path, ignored):
    """The inference folder is a dep of every stage and `make default-model` writes into
    it: DVC itself must leave that model (and bytecode) out of the folder's hash."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        assert repo.dvcignore.is_ignored_file(str(ROOT / path)) is ignored
