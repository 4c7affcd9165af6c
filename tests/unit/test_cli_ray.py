"""`--engine ray` on the command line, without starting Ray: the parser takes it (and
URIs stay as typed), and a missing Ray is a usage error naming the extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ai_detector.apps.cli import build_parser, main


def test_parser_accepts_engine_ray_and_keeps_uris() -> None:
    args = build_parser().parse_args(
        ["predict", "--engine", "ray", "s3://bucket/images/", "--out", "r.parquet", "--actors", "3"]
    )
    assert args.engine == "ray" and args.actors == 3
    assert args.paths == ["s3://bucket/images/"]  # not Path's "s3:/bucket/images"
    assert args.output_path == "r.parquet"


def test_the_default_engine_is_the_local_one() -> None:
    args = build_parser().parse_args(["predict", "photos/", "-o", "p.csv"])
    assert args.engine == "local" and args.actors is None


def test_missing_ray_is_a_readable_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    (tmp_path / "photos").mkdir()
    out = tmp_path / "r.parquet"
    code = main(["predict", "--engine", "ray", str(tmp_path / "photos"), "--out", str(out)])
    assert code == 2
    assert "pip install 'ai-detector[ray]'" in capsys.readouterr().err
    assert not out.exists()


def test_actors_without_the_ray_engine_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The local engine runs one Predictor: a careless --actors 8 is refused, not ignored."""
    out = tmp_path / "p.csv"
    code = main(["predict", str(tmp_path), "-o", str(out), "--actors", "8"])
    assert code == 2
    assert "--actors is for --engine ray" in capsys.readouterr().err
    assert not out.exists()


def test_the_local_engine_needs_no_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, make_image
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(make_image())
    out = tmp_path / "p.csv"
    code = main(["predict", str(tmp_path / "photos"), "-o", str(out), "-m", str(tiny_model_dir)])
    assert code == 0 and out.read_text().startswith("path,label,confidence")


def test_an_unexpected_error_costs_its_file_only(
    tmp_path: Path, tiny_model_dir: Path, make_image, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An actor's batch where reading one file raises outside OSError/InputError: only
    that file gets an error row, and its neighbours their verdicts."""
    pytest.importorskip("pyarrow")
    from ai_detector.apps import ray_batch
    from ai_detector.apps.ray_inputs import FileReader

    for name, tint in (("a.jpg", "red"), ("odd.jpg", "none"), ("c.jpg", "blue")):
        (tmp_path / name).write_bytes(make_image(tint=tint))
    plain_read = FileReader.__call__

    def read(self: FileReader, item) -> bytes:
        if item.name == "odd.jpg":
            raise RuntimeError("a reader bug")
        return plain_read(self, item)

    monkeypatch.setattr(FileReader, "__call__", read)
    labels = ("Real", "AI-generated", "Deepfake")
    actor = ray_batch.ScoreBatch(str(tiny_model_dir), 1, labels)
    names = ["a.jpg", "odd.jpg", "c.jpg"]
    batch = {"location": [str(tmp_path / n) for n in names], "name": names}
    rows = {row["path"]: row for row in actor(batch).to_pylist()}
    assert rows["a.jpg"]["label"] == "AI-generated" and rows["c.jpg"]["label"] == "Deepfake"
    assert rows["odd.jpg"]["error"] == "internal_error: RuntimeError: a reader bug"
    assert rows["odd.jpg"]["label"] is None and rows["a.jpg"]["error"] is None
