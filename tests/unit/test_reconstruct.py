"""prepare's content-matched fakes: each real photo and its autoencoder reconstruction,
in the parent's split, cropped and JPEG-encoded alike, and cached."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from ai_detector.pipeline.data import reconstruct as reconstruct_module
from ai_detector.pipeline.data.github import MIRRORS_ENV
from ai_detector.pipeline.data.records import read_records
from ai_detector.pipeline.data.source_config import SourceError
from ai_detector.pipeline.data.taesd import TinyAutoencoder
from ai_detector.pipeline.prepare import prepare
from tests.conftest import repo_params
from tests.datasets_helpers import image_bytes
from tests.unit.test_github_source import git


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A folder source (odd-sized reals) and an autoencoder with random weights in a
    mirrored repository, as configs/sources/dev.yaml records the real one."""
    root = tmp_path / "set"
    for name in ("real", "fake"):
        (root / name).mkdir(parents=True)
        for index in range(8):
            data = image_bytes(index + 100 * (name == "fake"), name == "fake", (61, 45))
            (root / name / f"{index}.jpg").write_bytes(data)
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.manual_seed(0)
    model = TinyAutoencoder()
    torch.save(model.encoder.state_dict(), weights / "enc.pth")
    torch.save(model.decoder.state_dict(), weights / "dec.pth")
    git(weights, "init", "-q")
    git(weights, "add", ".")
    git(weights, "commit", "-qm", "weights")
    commit = git(weights, "rev-parse", "HEAD")
    mirrors = tmp_path / "mirrors"
    git(tmp_path, "clone", "-q", "--bare", str(weights), str(mirrors / "someone+tae" / "repo"))
    monkeypatch.setenv(MIRRORS_ENV, str(mirrors))
    path = tmp_path / "sources.yaml"
    entry = {"name": "set", "layout": "folder", "path": str(root)}
    entry["classes"] = {"real": "Real", "fake": "AI-generated"}
    autoencoder = {"repo": "someone/tae", "commit": commit, "encoder": "enc.pth"}
    autoencoder["decoder"] = "dec.pth"
    path.write_text(yaml.safe_dump({"sources": [entry], "autoencoder": autoencoder}))
    return str(path)


def run(sources: str, out: Path, cache: Path, share: float = 1.0) -> list:
    params = repo_params(
        "prepare",
        sources=sources,
        seed=5,
        deepfakes_from="",
        reconstruct_from=("set",),
        reconstruct_share=share,
        reconstruct_quality=(70, 95),
    )
    prepare(params, out, cache)
    return read_records(out / "records.csv")


def test_each_real_gets_a_matched_pair_in_its_split(sources, tmp_path):
    records = run(sources, tmp_path / "out", tmp_path / "cache")
    parents = {r.sha256: r for r in records if r.source == "set" and r.label == "Real"}
    made = [r for r in records if r.source == "reconstruct"]
    assert len(made) == 2 * len(parents) == 16
    pairs: dict[str, list] = defaultdict(list)
    for record in made:
        pairs[Path(record.path).name.rsplit("-", 1)[0]].append(record)
    assert len(pairs) == 8
    for pair in pairs.values():
        real, fake = sorted(pair, key=lambda r: r.label != "Real")
        assert (real.label, fake.label) == ("Real", "AI-generated")
        assert (real.group, fake.group) == ("set", "taef2")
        assert real.split == fake.split
        parent = parents[next(s for s in parents if s.startswith(Path(real.path).name[:24]))]
        assert parent.split == real.split
        with Image.open(real.path) as a, Image.open(fake.path) as b:
            # Cropped to the autoencoder's grid of 8, and saved at one quality.
            assert a.size == b.size == (56, 40)
            assert a.quantization == b.quantization  # type: ignore[attr-defined]
        assert Path(real.path).is_relative_to(tmp_path / "out")


def test_share_picks_a_seeded_subset(sources, tmp_path):
    some = run(sources, tmp_path / "a", tmp_path / "cache", share=0.5)
    again = run(sources, tmp_path / "b", tmp_path / "cache", share=0.5)
    made = sorted(Path(r.path).name for r in some if r.source == "reconstruct")
    assert 0 < len(made) < 16
    assert made == sorted(Path(r.path).name for r in again if r.source == "reconstruct")
    # A larger share keeps every pair of a smaller one (one draw per photo).
    everything = run(sources, tmp_path / "c", tmp_path / "cache", share=1.0)
    assert set(made) < {Path(r.path).name for r in everything if r.source == "reconstruct"}


def test_a_rerun_reads_the_cache_instead_of_reconstructing(sources, tmp_path, monkeypatch):
    first = run(sources, tmp_path / "a", tmp_path / "cache")

    def refuse(*args, **kwargs):
        raise AssertionError("reconstructed again")

    monkeypatch.setattr(reconstruct_module, "pair_bytes", refuse)
    second = run(sources, tmp_path / "b", tmp_path / "cache")
    assert sorted(r.sha256 for r in first) == sorted(r.sha256 for r in second)


def test_a_source_without_real_images_is_an_error(sources, tmp_path):
    params = repo_params(
        "prepare", sources=sources, seed=5, deepfakes_from="", reconstruct_from=("nope",)
    )
    with pytest.raises(ValueError, match="nope"):
        prepare(params, tmp_path / "out", tmp_path / "cache")


def test_the_weights_repository_is_the_one_recorded(sources, tmp_path):
    raw = yaml.safe_load(Path(sources).read_text())
    raw["autoencoder"]["commit"] = "0" * 40
    Path(sources).write_text(yaml.safe_dump(raw))
    with pytest.raises(SourceError, match="0000000000"):
        run(sources, tmp_path / "out", tmp_path / "cache")


def test_a_sources_file_without_an_autoencoder_is_an_error(sources, tmp_path):
    raw = yaml.safe_load(Path(sources).read_text())
    del raw["autoencoder"]
    Path(sources).write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="has no 'autoencoder'"):
        run(sources, tmp_path / "out", tmp_path / "cache")
