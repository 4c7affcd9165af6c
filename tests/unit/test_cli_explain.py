"""`ai-detector explain` and `ai-detector predict --explain DIR`, on real files.

The tiny model with explanation outputs makes the heat's place known (a red patch is the
evidence for "AI-generated"); the README's command runs verbatim with the shipped model.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ai_detector.apps.cli import main
from ai_detector.inference.predictor import DEFAULT_MODEL_DIR
from ai_detector.pipeline.cam_graph import add_cam_outputs_file
from ai_detector.serving.torchserve import venv_tool
from tests.conftest import encode_image, textured_image, write_tiny_onnx_model


@pytest.fixture
def cam_model_dir(tmp_path: Path) -> Path:
    model_dir = tmp_path / "cam_model"
    write_tiny_onnx_model(model_dir)
    add_cam_outputs_file(model_dir / "model.onnx")
    return model_dir


def red_patch_image(path: Path) -> Path:
    image = Image.new("RGB", (400, 300), (128, 128, 128))
    image.paste((250, 40, 40), (150, 40, 330, 220))
    path.write_bytes(encode_image(image, "PNG"))
    return path


def test_explain_writes_the_overlay_and_names_the_peak(cam_model_dir, tmp_path, capsys):
    photo = red_patch_image(tmp_path / "photo.png")
    out = tmp_path / "heat.png"
    assert main(["explain", str(photo), "--out", str(out), "-m", str(cam_model_dir), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "AI-generated" in printed and f"overlay: {out}" in printed
    overlay = np.asarray(Image.open(out).convert("RGB"), np.int16)
    assert overlay.shape == (300, 400, 3)
    # Coloured over the patch (the layer is opaque there), untouched in the far corner.
    assert np.abs(overlay[100:160, 200:280] - (250, 40, 40)).max() > 30
    assert np.abs(overlay[260:, :60] - 128).max() <= 3
    assert main(["explain", str(photo), "--json", "-m", str(cam_model_dir), "-q"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["label"] == "AI-generated" and "overlay_png" not in answer["explanation"]


def test_explain_errors(cam_model_dir, tiny_model_dir, tmp_path, capsys):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4 not an image")
    assert main(["explain", str(pdf), "-m", str(cam_model_dir), "-q"]) == 1
    assert "not_an_image" in capsys.readouterr().err
    assert main(["explain", str(tmp_path / "missing.jpg"), "-m", str(cam_model_dir)]) == 2
    assert "does not exist" in capsys.readouterr().err
    photo = red_patch_image(tmp_path / "photo.png")
    assert main(["explain", str(photo), "-m", str(tiny_model_dir), "-q"]) == 2
    assert "no explanation outputs" in capsys.readouterr().err


def test_predict_with_explain_writes_one_overlay_per_classified_file(cam_model_dir, tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    red_patch_image(photos / "patch.png")
    (photos / "sub" / "plain.jpg").write_bytes(encode_image(textured_image(), "JPEG"))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 broken")
    out, overlays = tmp_path / "out.csv", tmp_path / "overlays"
    args = ["predict", "-i", str(photos), "-r", "-o", str(out), "--explain", str(overlays)]
    assert main([*args, "-m", str(cam_model_dir), "-q"]) == 1  # the broken file
    assert sorted(p.name for p in overlays.iterdir()) == ["patch.png.png", "sub_plain.jpg.png"]
    with out.open(newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert rows["patch.png"]["label"] == "AI-generated" and rows["broken.jpg"]["error"]
    assert Image.open(overlays / "patch.png.png").size == (400, 300)


def test_readme_command_verbatim_with_the_shipped_model(tmp_path):
    if not (DEFAULT_MODEL_DIR / "metadata.json").is_file():
        pytest.skip("no default model in the package")
    (tmp_path / "photo.jpg").write_bytes(encode_image(textured_image((320, 240)), "JPEG"))
    command = "ai-detector explain photo.jpg --out heat.png"
    argv = [venv_tool("ai-detector"), *command.split()[1:]]
    done = subprocess.run(
        argv, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "photo.jpg: " in done.stdout and "overlay: heat.png" in done.stdout
    assert Image.open(tmp_path / "heat.png").size == (320, 240)
