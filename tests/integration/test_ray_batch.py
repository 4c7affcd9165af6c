"""`ai-detector predict --engine ray` on a local Ray (one session for the module).

The Ray rows are checked against the plain CLI's CSV on the same files (the same columns,
verdicts and error texts) and against the Predictor itself; broken files (cut, text,
empty, unreadable) keep their rows with exit code 1; a parquet of paths and a file://
prefix work; usage errors exit 2 with a message; the README's commands run verbatim.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ai_detector.apps.cli import main
from ai_detector.inference.predictor import DEFAULT_MODEL_DIR, Predictor
from tests.conftest import encode_image, textured_image, write_tiny_onnx_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ray = pytest.importorskip("ray", reason="pip install 'ai-detector[ray]'")
pq = pytest.importorskip("pyarrow.parquet")

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"neutral.jpg": "none", "red.png": "red", "blue.webp": "blue", "red2.jpg": "red"}


@pytest.fixture(scope="module", autouse=True)
def ray_session() -> Iterator[None]:
    """main() reuses a running session instead of starting Ray for each call."""
    # address="local": a fresh local Ray even when RAY_ADDRESS names a cluster.
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny") / "model"
    write_tiny_onnx_model(folder)
    return folder


def write_good(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (name, tint) in enumerate(GOOD.items()):
        fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[name.rsplit(".", 1)[1]]
        (folder / name).write_bytes(encode_image(textured_image(seed=seed, tint=tint), fmt))


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Good images, then a cut JPEG, text named .jpg, an empty file and unreadable ones."""
    folder = tmp_path / "photos"
    write_good(folder)
    (folder / "cut.jpg").write_bytes((folder / "neutral.jpg").read_bytes()[:300])
    (folder / "text.jpg").write_text("not an image at all")
    (folder / "empty.png").write_bytes(b"")
    (folder / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        (folder / "locked.jpg").write_bytes(b"x")
        (folder / "locked.jpg").chmod(0)
    (folder / "notes.txt").write_text("ignored by suffix, as the CLI does")
    return folder


def run(*args: Any) -> int:
    return main(["predict", *map(str, args)])


def read_parquet(path: Path) -> tuple[list[str], dict[str, dict[str, Any]]]:
    table = pq.read_table(path)
    return table.column_names, {row["path"]: row for row in table.to_pylist()}


def read_csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), {row["path"]: row for row in reader}


def test_rows_equal_the_csv_and_the_predictor(photos: Path, model_dir: Path, tmp_path: Path):
    ray_out, csv_out = tmp_path / "results.parquet", tmp_path / "results.csv"
    assert run("--engine", "ray", photos, "--out", ray_out, "-m", model_dir, "-b", "3") == 1
    assert run(photos, "-o", csv_out, "-m", model_dir, "-b", "3") == 1
    columns, rows = read_parquet(ray_out)
    header, expected = read_csv(csv_out)
    assert columns == header and set(rows) == set(expected)
    predictor = Predictor(model_dir)
    for name in GOOD:
        row, want = rows[name], expected[name]
        verdict = predictor.predict_one((photos / name).read_bytes())
        assert row["label"] == want["label"] == verdict.label
        assert row["confidence"] == pytest.approx(float(want["confidence"])) == verdict.confidence
        for label, share in verdict.probabilities.items():
            assert row[f"prob_{label}"] == pytest.approx(share)
        assert row["error"] is None and row["provenance_source"] == want["provenance_source"]
    assert {rows[n]["label"] for n in GOOD} == {"Real", "AI-generated", "Deepfake"}
    broken = set(rows) - set(GOOD)
    assert broken >= {"cut.jpg", "text.jpg", "empty.png", "dangling.jpg"}
    for name in broken:  # the CLI's own error text, and no verdict
        assert rows[name]["error"] == expected[name]["error"] != ""
        assert rows[name]["label"] is None and rows[name]["confidence"] is None
    assert rows["dangling.jpg"]["error"] == "unreadable: No such file or directory"
    assert rows["text.jpg"]["error"].startswith("not_an_image")


def test_every_file_classified_exits_0(tmp_path: Path, model_dir: Path) -> None:
    write_good(tmp_path / "good")
    out = tmp_path / "good.parquet"
    assert run("--engine", "ray", tmp_path / "good", "--out", out, "-m", model_dir) == 0
    assert set(read_parquet(out)[1]) == set(GOOD)


def test_parquet_of_paths(photos: Path, model_dir: Path, tmp_path: Path) -> None:
    import pyarrow as pa

    paths = [str(photos / "red.png"), str(photos / "text.jpg"), str(tmp_path / "gone.jpg"),
             str(photos), f"file://{photos / 'blue.webp'}"]  # fmt: skip
    listing = tmp_path / "paths.parquet"
    pq.write_table(pa.table({"path": paths, "source": ["a"] * len(paths)}), listing)
    out = tmp_path / "out.parquet"
    assert run("--engine", "ray", listing, "--out", out, "-m", model_dir) == 1
    rows = read_parquet(out)[1]
    assert set(rows) == set(paths)  # named on purpose: every path keeps its row
    assert rows[paths[0]]["label"] == "AI-generated" and rows[paths[4]]["label"] == "Deepfake"
    assert rows[paths[1]]["error"].startswith("not_an_image")
    assert rows[paths[2]]["error"] == "unreadable: No such file or directory"
    assert rows[paths[3]]["error"].startswith("unreadable: ")  # a folder is no file


def test_a_uri_prefix_is_listed_like_a_folder(photos: Path, model_dir: Path, tmp_path: Path):
    out = tmp_path / "uri.parquet"
    assert run("--engine", "ray", f"file://{photos}", "--out", out, "-m", model_dir) == 1
    rows = read_parquet(out)[1]
    assert "notes.txt" not in rows and rows["red.png"]["label"] == "AI-generated"
    assert rows["cut.jpg"]["error"].startswith("corrupt_image")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["missing_dir", "--out", "x.parquet"], "does not exist"),
        (["file:///no/such/prefix", "--out", "x.parquet"], "does not exist"),
        (["photos"], "--out RESULTS.parquet"),  # no --out
        (["photos", "--out", "x.csv"], "--out RESULTS.parquet"),
        (["photos", "--out", "taken.parquet"], "pass --overwrite"),
        (["photos", "--out", "x.parquet", "--explain", "maps"], "without --explain"),
        (["--out", "x.parquet"], "give a folder"),
    ],
)
def test_usage_errors_exit_2(extra, message, photos, model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.parquet").write_bytes(b"keep me")
    assert run("--engine", "ray", "-m", model_dir, *extra) == 2
    assert message in capsys.readouterr().err
    assert (tmp_path / "taken.parquet").read_bytes() == b"keep me"
    assert not (tmp_path / "x.parquet").exists()


def test_overwrite_replaces(photos: Path, model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken.parquet"
    out.write_bytes(b"old")
    assert run("--engine", "ray", photos, "--out", out, "-m", model_dir, "--overwrite") == 1
    assert "red.png" in read_parquet(out)[1]


def test_an_object_store_out(photos: Path, model_dir: Path, tmp_path: Path, capsys) -> None:
    """--out as a URI (file:// here, s3:// on a cluster): written, and never replaced
    without --overwrite."""
    out = tmp_path / "stored.parquet"
    assert run("--engine", "ray", photos, "--out", f"file://{out}", "-m", model_dir) == 1
    assert read_parquet(out)[1]["red.png"]["label"] == "AI-generated"
    assert run("--engine", "ray", photos, "--out", f"file://{out}", "-m", model_dir) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def readme_ray_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = re.findall(r"^ai-detector predict --engine ray [^#\n]*", text, flags=re.MULTILINE)
    return [line.strip() for line in lines]


def test_readme_commands_run_verbatim(tmp_path, monkeypatch) -> None:
    """With the shipped model, in a folder holding the README's photos/."""
    if not (DEFAULT_MODEL_DIR / "metadata.json").is_file():
        pytest.skip("no default model in the package")
    commands = readme_ray_commands()
    assert commands, "the README shows no `ai-detector predict --engine ray` command"
    monkeypatch.chdir(tmp_path)
    write_good(tmp_path / "photos")
    for command in commands:
        words = shlex.split(command)
        assert run(*words[2:]) == 0, command
        out = words[words.index("--out") + 1]
        assert set(read_parquet(tmp_path / out)[1]) == set(GOOD)
        (tmp_path / out).unlink()
