"""layout github: the files a source names, at its recorded commit, re-encoded alike."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from ai_detector.pipeline.data.github import MIRRORS_ENV, fetch_files
from ai_detector.pipeline.data.sources import SourceConfig, SourceError, read_source
from tests.conftest import encode_image, textured_image

REPO = "someone/gallery"


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@t", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return done.stdout.decode().strip()


@pytest.fixture
def gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A repository whose fakes are large PNGs and reals small JPEGs (a format and size
    shortcut), mirrored where $AI_DETECTOR_GIT_MIRRORS points. Returns (first, second) commits."""
    work = tmp_path / "work"
    (work / "cases" / "1").mkdir(parents=True)
    (work / "photos").mkdir()
    for index in range(3):
        fake = encode_image(textured_image((900, 600), seed=index, tint="red"), "PNG")
        (work / "cases" / "1" / f"out {index}.png").write_bytes(fake)
        real = encode_image(textured_image((300, 200), seed=10 + index), "JPEG", quality=70)
        (work / "photos" / f"p{index}.jpg").write_bytes(real)
    (work / "README.md").write_text("not an image")
    git(work, "init", "-q")
    git(work, "add", ".")
    git(work, "commit", "-qm", "first")
    first = git(work, "rev-parse", "HEAD")
    (work / "photos" / "late.jpg").write_bytes((work / "photos" / "p0.jpg").read_bytes()[:-9])
    git(work, "add", ".")
    git(work, "commit", "-qm", "second")
    second = git(work, "rev-parse", "HEAD")
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(work), str(mirrors / "someone+gallery" / "repo"))
    monkeypatch.setenv(MIRRORS_ENV, str(mirrors))
    return first, second


def config(commit: str, **changes: object) -> SourceConfig:
    values: dict = {
        "name": "gallery",
        "layout": "github",
        "path": REPO,
        "commit": commit,
        "files": {"fake": ["cases/*.png"], "real": ["photos/*"]},
        "classes": {"fake": "AI-generated", "real": "Real"},
    } | changes
    return SourceConfig(**values)


def test_reads_the_named_files_at_the_recorded_commit(gallery, tmp_path):
    first, second = gallery
    records = read_source(config(first), cache_dir=tmp_path / "cache")
    labels = sorted((Path(r.path).name, r.label) for r in records)
    assert labels == [
        ("out 0.png", "AI-generated"),
        ("out 1.png", "AI-generated"),
        ("out 2.png", "AI-generated"),
        ("p0.jpg", "Real"),
        ("p1.jpg", "Real"),
        ("p2.jpg", "Real"),
    ]
    assert {r.source for r in records} == {"gallery"}
    # The file added by the later commit appears only when that commit is recorded.
    later = read_source(config(second), cache_dir=tmp_path / "cache")
    assert "late.jpg" in {Path(r.path).name for r in later}


def test_normalise_re_encodes_both_classes_alike(gallery, tmp_path):
    first, _ = gallery
    records = read_source(
        config(first, normalise={"long_side": 256, "jpeg_quality": 85}), tmp_path / "cache"
    )
    for record in records:
        with Image.open(record.path) as image:
            assert image.format == "JPEG"
            assert max(image.size) <= 256
            tables = image.quantization  # type: ignore[attr-defined]
        assert tables == _tables_at(85)
    sizes = {r.label: Image.open(r.path).size for r in records}
    assert sizes == {"AI-generated": (256, 171), "Real": (256, 171)}


def _tables_at(quality: int) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).quantization  # type: ignore[attr-defined]


def test_a_pattern_matching_no_image_is_an_error(gallery, tmp_path):
    first, _ = gallery
    bad = config(first, files={"fake": ["cases/*.webp"], "real": ["photos/*"]})
    with pytest.raises(SourceError, match=r"no image .* matches \['cases/\*.webp'\]"):
        read_source(bad, tmp_path / "cache")


def test_an_unknown_commit_is_an_error_naming_it(gallery, tmp_path):
    with pytest.raises(SourceError, match="deadbeef"):
        read_source(config("deadbeef" * 5), tmp_path / "cache")


def test_a_source_class_outside_the_class_map_is_an_error(gallery, tmp_path):
    first, _ = gallery
    bad = config(first, files={"fake": ["cases/*"], "other": ["photos/*"]})
    with pytest.raises(SourceError, match="'other'"):
        read_source(bad, tmp_path / "cache")


def test_fetch_files_writes_each_blob_once(gallery, tmp_path):
    first, _ = gallery
    [path] = fetch_files(REPO, first, ["photos/p1.jpg"], tmp_path / "cache")
    assert Image.open(path).size == (300, 200)
    path.write_bytes(b"kept")  # a cached file is not fetched again
    assert (
        fetch_files(REPO, first, ["photos/p1.jpg"], tmp_path / "cache")[0].read_bytes() == b"kept"
    )
