"""A core-only install (``pip install ai-detector``, no extras) loads the model and predicts.

The serve and batch images install ``[serve]`` / ``[cli]``; whatever they lack, the
Predictor must not need. The test builds a fresh venv that holds exactly the project's
core dependencies and what they require (found in this venv's metadata, copied file by
file from their RECORDs, so it needs no network), runs a prediction and the CLI there,
and compares both with this process's answer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ai_detector.inference.predictor import DEFAULT_MODEL_DIR, Predictor
from tests.conftest import encode_image, textured_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "ai-detector"


def core_closure(project: str = PROJECT) -> set[str]:
    """The distributions the project needs without extras, transitively."""
    found: set[str] = set()
    todo = [project]
    while todo:
        for text in metadata.distribution(todo.pop()).requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # an extra's requirement (or another platform's)
            name = requirement.name.lower().replace("_", "-")
            if name not in found:
                found.add(name)
                todo.append(name)
    return found


def copy_distribution(name: str, site: Path) -> None:
    """Every file of ``name`` under site-packages, as pip installed it here."""
    here = Path(sysconfig.get_paths()["purelib"]).resolve()
    for file in metadata.distribution(name).files or []:
        source = Path(str(file.locate())).resolve()
        if here not in source.parents:
            continue  # console scripts in bin/: not needed to import
        target = site / source.relative_to(here)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    for name in core_closure():
        copy_distribution(name, site)
    # The project itself, as source: src/ on the path (what an install puts in site-packages).
    (site / "ai_detector_src.pth").write_text(str(ROOT / "src") + "\n")
    return venv / "bin" / "python"


def test_the_core_closure_holds_no_training_or_serving_library():
    closure = core_closure()
    assert "onnxruntime" in closure and "numpy" in closure
    assert not closure & {"onnx", "torch", "timm", "torchserve", "tqdm", "mlflow"}


def test_a_core_only_install_predicts_as_the_full_one(core_python, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(encode_image(textured_image((320, 240), seed=4, tint="red"), "JPEG"))
    code = """
import importlib.util, json, sys
from ai_detector import Predictor
from ai_detector.inference.predictor import DEFAULT_MODEL_DIR
image = open(sys.argv[1], "rb").read()
answer = Predictor(DEFAULT_MODEL_DIR, threads=1).predict_one(image).to_dict()
missing = [m for m in ("onnx", "torch", "timm", "tqdm") if importlib.util.find_spec(m) is None]
print(json.dumps({"answer": answer, "missing": missing}))
"""
    done = subprocess.run(
        [str(core_python), "-I", "-c", code, str(photo)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["missing"] == ["onnx", "torch", "timm", "tqdm"]  # really a core-only venv
    full = Predictor(DEFAULT_MODEL_DIR, threads=1).predict_one(photo.read_bytes()).to_dict()
    assert found["answer"] == full


def test_the_cli_runs_in_a_core_only_install(core_python, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(3):
        image = textured_image((200, 150), seed=seed)
        (photos / f"{seed}.png").write_bytes(encode_image(image, "PNG"))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    out = tmp_path / "predictions.csv"
    done = subprocess.run(
        [str(core_python), "-I", "-m", "ai_detector", "predict", str(photos), "-o", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr[-3000:]  # one file failed, the rest classified
    rows = out.read_text().splitlines()
    assert len(rows) == 5 and sum("corrupt" in row or "not_an_image" in row for row in rows) == 1
