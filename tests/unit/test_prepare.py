"""prepare: no silent drops, no test image in training, no leakage through duplicates."""

from __future__ import annotations

from pathlib import Path

import yaml

from ai_detector.pipeline.data.records import read_records
from ai_detector.pipeline.prepare import prepare
from tests.conftest import repo_params
from tests.datasets_helpers import image_bytes, make_cifake_dataset, make_folder_dataset


def write_sources(path: Path, sources: list[dict]) -> str:
    path.write_text(yaml.safe_dump({"sources": sources}))
    return str(path)


def test_prepare_splits_dedupes_and_reports(tmp_path):
    root = make_folder_dataset(tmp_path / "set", per_class=20)
    (root / "real" / "copy.jpg").write_bytes(
        (root / "real" / "3.jpg").read_bytes()
    )  # duplicate bytes
    (root / "fake" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")  # corrupt image
    (root / "fake" / "both.jpg").write_bytes(
        (root / "real" / "4.jpg").read_bytes()
    )  # same bytes, other label
    cifake = make_cifake_dataset(tmp_path / "cifake", per_class=3)
    sources = write_sources(
        tmp_path / "sources.yaml",
        [
            {
                "name": "set",
                "layout": "folder",
                "path": str(root),
                "classes": {"real": "Real", "fake": "AI-generated"},
            },
            {
                "name": "cifake",
                "layout": "split_folder",
                "path": str(cifake),
                "classes": {"REAL": "Real", "FAKE": "AI-generated"},
            },
        ],
    )
    report = prepare(
        repo_params(
            "prepare",
            sources=sources,
            seed=1,
            val_fraction=0.2,
            test_fraction=0.2,
            deepfakes_from="",
            reconstruct_from=(),
        ),
        tmp_path / "out",
    )
    records = read_records(tmp_path / "out" / "records.csv")
    reasons = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert "truncated or corrupt" in reasons["broken.jpg"]
    assert "duplicate" in reasons.get("copy.jpg", reasons.get("3.jpg", ""))
    assert "under labels" in reasons["both.jpg"] and "under labels" in reasons["4.jpg"]
    hashes_by_split = {
        split: {r.sha256 for r in records if r.split == split} for split in ("train", "val", "test")
    }
    assert not hashes_by_split["train"] & hashes_by_split["test"]
    assert not hashes_by_split["train"] & hashes_by_split["val"]
    # CIFAKE's own test split stays test
    assert all(r.split == "test" for r in records if r.source == "cifake" and "/test/" in r.path)
    # stratified: each (source, label) has members in every split
    for label in ("Real", "AI-generated"):
        assert {r.split for r in records if r.source == "set" and r.label == label} == {
            "train",
            "val",
            "test",
        }
    assert report["counts"]["set"]["Real"]["train"] > 0
    assert report["by_label"]["Real"]["formats"] == {
        "JPEG": report["by_label"]["Real"]["formats"]["JPEG"]
    }


def test_prepare_is_deterministic(tmp_path):
    root = make_folder_dataset(tmp_path / "set", per_class=8)
    sources = write_sources(
        tmp_path / "s.yaml",
        [
            {
                "name": "set",
                "layout": "folder",
                "path": str(root),
                "classes": {"real": "Real", "fake": "AI-generated"},
            }
        ],
    )
    params = repo_params("prepare", sources=sources, seed=7, deepfakes_from="", reconstruct_from=())
    prepare(params, tmp_path / "a")
    prepare(params, tmp_path / "b")
    assert (tmp_path / "a" / "records.csv").read_text() == (
        tmp_path / "b" / "records.csv"
    ).read_text()


def test_self_blended_deepfakes_inherit_their_parents_split(tmp_path):
    root = tmp_path / "faces"
    for name, fake in (("real", False), ("fake", True)):
        (root / name).mkdir(parents=True)
        for index in range(10):
            (root / name / f"{index}.jpg").write_bytes(
                image_bytes(index + 50 * fake, fake, (96, 96))
            )
    sources = write_sources(
        tmp_path / "s.yaml",
        [
            {
                "name": "faces",
                "layout": "folder",
                "path": str(root),
                "classes": {"real": "Real", "fake": "AI-generated"},
            }
        ],
    )
    params = repo_params(
        "prepare",
        sources=sources,
        seed=3,
        deepfakes_from="faces",
        deepfakes_per_real=1.0,
        reconstruct_from=(),
    )
    prepare(params, tmp_path / "out")
    records = read_records(tmp_path / "out" / "records.csv")
    deepfakes = [r for r in records if r.label == "Deepfake"]
    assert len(deepfakes) == 10
    assert all(Path(r.path).is_file() and r.source == "sbi-faces" for r in deepfakes)
    real_splits = sorted(r.split for r in records if r.label == "Real")
    assert sorted(r.split for r in deepfakes) == real_splits


def test_report_counts_files_carrying_provenance_per_source_and_label(tmp_path):
    from tests.provenance_files import camera_exif, iptc_xmp, plain, png_with_text

    root = make_folder_dataset(tmp_path / "set", per_class=6)
    (root / "fake" / "a1111.png").write_bytes(png_with_text({"parameters": "x\nSteps: 20"}))
    (root / "fake" / "iptc.jpg").write_bytes(
        plain(size=(64, 48), xmp=iptc_xmp("trainedAlgorithmicMedia").encode())
    )
    (root / "real" / "camera.jpg").write_bytes(plain(size=(80, 60), exif=camera_exif()))
    sources = write_sources(
        tmp_path / "s.yaml",
        [
            {
                "name": "set",
                "layout": "folder",
                "path": str(root),
                "classes": {"real": "Real", "fake": "AI-generated"},
            }
        ],
    )
    report = prepare(
        repo_params("prepare", sources=sources, seed=1, deepfakes_from="", reconstruct_from=()),
        tmp_path / "out",
    )
    assert report["provenance"] == {
        "set": {
            "AI-generated": {"files": 8, "any": 2, "generator-metadata": 1, "iptc": 1},
            "Real": {"files": 7, "camera-exif": 1},
        }
    }
