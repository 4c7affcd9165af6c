"""`ai-detector predict` end to end on a folder of generated images and a tiny ONNX model.

Runs main() in-process (fast) and once through `python -m ai_detector` (the real
entry point). Covers the CSV and JSON lines content, per-file errors (corrupt,
truncated, empty, unreadable, not an image), exit codes, refusing to overwrite and
the atomic write.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ai_detector.apps import batch
from ai_detector.apps.cli import main
from tests.conftest import TINY_LABELS
from tests.provenance_files import iptc_xmp, plain, png_with_text

ROOT = Path(__file__).resolve().parents[2]
PROVENANCE_COLUMNS = [
    f"provenance_{name}" for name in ("source", "claims", "generator", "signed", "valid")
]
HEADER = [
    "path",
    "label",
    "confidence",
    *(f"prob_{label}" for label in TINY_LABELS),
    *PROVENANCE_COLUMNS,
    "error",
]


@pytest.fixture
def photos(tmp_path: Path, make_image) -> Path:
    """Three good images (one per tiny-model label), broken ones, and files to ignore."""
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    (folder / "neutral.jpg").write_bytes(make_image())
    (folder / "red.png").write_bytes(make_image("PNG", tint="red"))
    (folder / "blue.webp").write_bytes(make_image("WEBP", tint="blue"))
    good = make_image(seed=3)
    # Cut in the header: Pillow's Image.open itself raises.
    (folder / "header_cut.jpg").write_bytes(good[:300])
    # Cut in the pixel data: the header parses, decoding fails.
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (folder / "notes.txt").write_text("not an image, ignored in a folder walk")
    (folder / "nested" / "deep.jpg").write_bytes(make_image(tint="red", seed=4))
    return folder


def run(*args: str | Path) -> int:
    return main(["predict", *(str(arg) for arg in args)])


def read_csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = {row["path"]: row for row in reader}
        return list(reader.fieldnames or []), rows


def test_folder_to_csv(photos: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "predictions.csv"
    code = run(
        "--input_path", photos, "--output_path", out, "--model_dir", tiny_model_dir, "-b", "2"
    )

    assert code == 1  # some files failed
    header, rows = read_csv(out)
    assert header == HEADER
    broken = {"dangling.jpg", "empty.png", "header_cut.jpg", "truncated.jpg"}
    assert set(rows) == {"neutral.jpg", "red.png", "blue.webp", *broken}  # no notes.txt, nested/
    assert rows["neutral.jpg"]["label"] == "Real"
    assert rows["red.png"]["label"] == "AI-generated"
    assert rows["blue.webp"]["label"] == "Deepfake"
    for name in ("neutral.jpg", "red.png", "blue.webp"):
        row = rows[name]
        probabilities = [float(row[f"prob_{label}"]) for label in TINY_LABELS]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert float(row["confidence"]) == float(row[f"prob_{row['label']}"])
        assert row["error"] == ""
    assert rows["header_cut.jpg"]["error"].startswith("corrupt_image:")
    assert rows["truncated.jpg"]["error"].startswith("corrupt_image:")
    assert rows["empty.png"]["error"].startswith("empty_input:")
    assert rows["dangling.jpg"]["error"] == "unreadable: No such file or directory"
    for name in broken:
        assert rows[name]["label"] == rows[name]["confidence"] == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "predictions.csv", "tiny_model"]


def test_all_good_exits_zero_and_recursive_finds_subfolders(
    tmp_path: Path, make_image, tiny_model_dir: Path
) -> None:
    folder = tmp_path / "good"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "top.jpg").write_bytes(make_image())
    (folder / "a" / "b" / "deep.PNG").write_bytes(make_image("PNG", tint="blue"))
    out = tmp_path / "out.csv"

    assert run("-i", folder, "-o", out, "-m", tiny_model_dir, "--recursive") == 0
    _, rows = read_csv(out)
    assert set(rows) == {"top.jpg", "a/b/deep.PNG"}
    assert rows["a/b/deep.PNG"]["label"] == "Deepfake"


def test_refuses_to_overwrite(photos: Path, tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "predictions.csv"
    out.write_text("precious\n")

    assert run("--input_path", photos, "--output_path", out, "--model_dir", tiny_model_dir) == 2
    assert out.read_text() == "precious\n"
    error = capsys.readouterr().err
    assert "already exists" in error and "--overwrite" in error

    code = run("-i", photos, "-o", out, "-m", tiny_model_dir, "--overwrite")
    assert code == 1
    assert read_csv(out)[0] == HEADER


@pytest.mark.parametrize("how", ["extension", "flag"])
def test_json_lines(photos: Path, tiny_model_dir: Path, tmp_path: Path, how: str) -> None:
    out = tmp_path / ("results.jsonl" if how == "extension" else "results.txt")
    extra = ["--format", "jsonl"] if how == "flag" else []
    assert run("-i", photos, "-o", out, "-m", tiny_model_dir, "-r", *extra) == 1

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_path = {line["path"]: line for line in lines}
    assert by_path["nested/deep.jpg"]["label"] == "AI-generated"
    assert set(by_path["neutral.jpg"]["probabilities"]) == set(TINY_LABELS)
    assert by_path["neutral.jpg"]["error"] is None
    assert by_path["empty.png"]["error"]["type"] == "empty_input"
    assert "label" not in by_path["empty.png"]


def test_files_print_a_table(photos: Path, tiny_model_dir: Path, capsys) -> None:
    files = [photos / "red.png", photos / "notes.txt", photos / "neutral.jpg"]
    assert run(*files, "--model_dir", tiny_model_dir) == 1  # notes.txt named on purpose

    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["path", "label", "confidence", *TINY_LABELS, "provenance", "error"]
    assert str(photos / "red.png") in table[1] and "AI-generated" in table[1]
    assert "not_an_image:" in table[2]
    assert table[3].split()[1] == "Real"
    assert table[1].index("AI-generated") == table[3].index("Real")  # aligned columns


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give image files or --input_path"),
        (["-i", "missing_folder"], "does not exist"),
        (["-i", ".", "-o", "no_such_dir/out.csv"], "does not exist"),
        (["-i", ".", "-o", "out.csv", "--format", "table"], "--format table"),
        (["-i", ".", "--model_dir", "."], "not a model directory"),
        (["-i", ".", "--batch_size", "0"], "must be at least 1"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(*args) == 2
    assert message in capsys.readouterr().err


def test_interrupted_run_leaves_no_output(
    photos: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    def interrupted(*args, **kwargs):
        yield from []
        raise KeyboardInterrupt

    monkeypatch.setattr("ai_detector.apps.cli.predict_files", interrupted)
    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        run("-i", photos, "-o", out, "-m", tiny_model_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "tiny_model"]


def test_unexpected_error_on_one_file_spares_the_rest(
    photos: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    real_preprocess = batch.Predictor.preprocess

    def flaky(self, data: bytes):
        if data == (photos / "red.png").read_bytes():
            raise RuntimeError("decoder bug")
        return real_preprocess(self, data)

    monkeypatch.setattr(batch.Predictor, "preprocess", flaky)
    out = tmp_path / "out.csv"
    assert run("-i", photos, "-o", out, "-m", tiny_model_dir, "-b", "8") == 1
    _, rows = read_csv(out)
    assert rows["red.png"]["error"] == "internal_error: RuntimeError: decoder bug"
    assert rows["neutral.jpg"]["label"] == "Real"
    assert rows["blue.webp"]["label"] == "Deepfake"


def test_output_file_gets_normal_permissions(photos, tiny_model_dir, tmp_path) -> None:
    out = tmp_path / "out.csv"
    run("-i", photos, "-o", out, "-m", tiny_model_dir, "-q")
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("module", ["ai_detector", "ai_detector.apps.cli"])
def test_python_dash_m(module: str, photos: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    args = ["-i", photos, "-o", out, "-m", tiny_model_dir, "--quiet"]
    command = [sys.executable, "-m", module, "predict", *map(str, args)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert read_csv(out)[1]["red.png"]["label"] == "AI-generated"
    assert done.stdout == ""  # results go to the file; stdout stays clean

    again = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 2
    assert "--overwrite" in again.stderr


def test_provenance_columns_in_csv_jsonl_and_table(
    tmp_path: Path, tiny_model_dir: Path, capsys
) -> None:
    folder = tmp_path / "stated"
    folder.mkdir()
    (folder / "a1111.png").write_bytes(png_with_text({"parameters": "a cat\nSteps: 20, Seed: 1"}))
    (folder / "iptc.jpg").write_bytes(plain(xmp=iptc_xmp("trainedAlgorithmicMedia").encode()))
    (folder / "plain.jpg").write_bytes(plain())

    assert run("-i", folder, "-o", tmp_path / "out.csv", "-m", tiny_model_dir) == 0
    header, rows = read_csv(tmp_path / "out.csv")
    assert header == HEADER
    stated = {name: [row[column] for column in PROVENANCE_COLUMNS] for name, row in rows.items()}
    assert stated == {
        "a1111.png": [
            "generator-metadata",
            "ai-generated",
            "Stable Diffusion web UI (Automatic1111)",
            "false",
            "",
        ],
        "iptc.jpg": ["iptc", "ai-generated", "Test Painter 3", "false", ""],
        "plain.jpg": ["none", "", "", "false", ""],
    }

    assert run("-i", folder, "-o", tmp_path / "out.jsonl", "-m", tiny_model_dir) == 0
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    by_path = {line["path"]: line for line in lines}
    assert by_path["iptc.jpg"]["provenance"]["details"] == {
        "digital_source_type": "trainedAlgorithmicMedia"
    }

    assert run(folder / "iptc.jpg", folder / "plain.jpg", "-m", tiny_model_dir) == 0
    table = capsys.readouterr().out.splitlines()
    assert "iptc: ai-generated" in table[1]
    assert table[2].split()[-1] == "-"
