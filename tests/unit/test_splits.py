"""Frozen splits: a test image stays a test image when data is added or the seed changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_detector.pipeline.data.records import Record, read_records, write_records
from ai_detector.pipeline.data.splits import assign_splits, main, read_frozen
from ai_detector.pipeline.prepare import prepare
from tests.conftest import repo_params, run_make
from tests.datasets_helpers import make_folder_dataset
from tests.unit.test_prepare import write_sources

FOLDER = {"layout": "folder", "classes": {"real": "Real", "fake": "AI-generated"}}


def prepared_splits(tmp_path: Path, name: str, sources: list[dict], **changes) -> dict:
    path = write_sources(tmp_path / f"{name}.yaml", [FOLDER | s for s in sources])
    params = repo_params("prepare", sources=path, deepfakes_from="", reconstruct_from=(), **changes)
    prepare(params, tmp_path / name)
    return {r.sha256: (r.source, r.split) for r in read_records(tmp_path / name / "records.csv")}


def test_frozen_splits_survive_a_new_seed_and_new_sources(tmp_path):
    old = {"name": "old", "path": str(make_folder_dataset(tmp_path / "old", per_class=30))}
    new = {"name": "new", "path": str(make_folder_dataset(tmp_path / "new", 30, offset=5000))}
    first = prepared_splits(tmp_path, "first", [old], splits="", seed=1)
    frozen = tmp_path / "splits.csv"
    assert main([str(tmp_path / "first" / "records.csv"), str(frozen)]) == 0

    again = prepared_splits(tmp_path, "again", [new, old], splits=str(frozen), seed=2)

    assert {sha: again[sha] for sha in first} == first
    added = {split for source, split in again.values() if source == "new"}
    assert added == {"train", "val", "test"}
    # Without the file the other seed draws another split: the file is what kept it.
    unfrozen = prepared_splits(tmp_path, "unfrozen", [old], splits="", seed=2)
    assert unfrozen != first


def test_without_a_split_file_adding_a_source_moves_no_image_of_another(tmp_path):
    first = {"name": "set", "path": str(make_folder_dataset(tmp_path / "set", per_class=30))}
    added = [
        {"name": f"new{i}", "path": str(make_folder_dataset(tmp_path / f"new{i}", 40, offset=i))}
        for i in range(10_000, 50_000, 10_000)
    ]
    alone = prepared_splits(tmp_path, "alone", [first], splits="", seed=3)
    others = prepared_splits(tmp_path, "others", [*added[:2], first, *added[2:]], splits="", seed=3)

    assert {split for _, split in alone.values()} == {"train", "val", "test"}
    assert {sha: others[sha] for sha in alone} == alone


def test_a_sources_own_test_split_outranks_the_frozen_file(tmp_path):
    params = repo_params("prepare", splits="", seed=1, val_fraction=0.0, test_fraction=0.0)
    benchmark_test = Record("a.jpg", "Real", "bench", "a" * 64, source_split="test")
    unlisted = Record("b.jpg", "Real", "bench", "b" * 64)

    result = assign_splits([benchmark_test, unlisted], params, frozen={"a" * 64: "train"})

    assert {r.path: r.split for r in result} == {"a.jpg": "test", "b.jpg": "train"}


def test_a_split_file_with_an_unknown_split_is_refused(tmp_path):
    path = tmp_path / "splits.csv"
    path.write_text("sha256,split\n" + "c" * 64 + ",holdout\n")
    with pytest.raises(ValueError, match="holdout"):
        read_frozen(path)


def test_a_missing_split_file_names_the_setting_and_the_way_to_write_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"prepare\.splits .* `make freeze-splits`"):
        read_frozen(tmp_path / "absent.csv")


def test_the_repository_split_file_names_each_image_once_in_a_known_split():
    frozen = read_frozen(repo_params("prepare").splits)
    lines = Path(repo_params("prepare").splits).read_text().splitlines()
    assert len(frozen) == len(lines) - 1 > 1000
    assert set(frozen.values()) == {"train", "val", "test"}


def test_make_freeze_splits_writes_the_split_of_every_prepared_record(tmp_path):
    records = [
        Record(f"{i}.jpg", "Real", "set", f"{i:064x}", split)
        for i, split in enumerate(["train", "val", "test", "train"])
    ]
    write_records(records, tmp_path / "records.csv")
    paths = [f"RECORDS={tmp_path / 'records.csv'}", f"SPLIT_FILE={tmp_path / 'splits.csv'}"]
    done = run_make("freeze-splits", *paths)
    assert done.returncode == 0, done.stderr
    assert read_frozen(tmp_path / "splits.csv") == {r.sha256: r.split for r in records}
