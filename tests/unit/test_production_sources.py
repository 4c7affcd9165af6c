"""configs/sources/production.yaml, read as it ships, on local stand-ins in each set's layout
(a hub parquet snapshot, CIFAKE's Kaggle folders, generated-or-not's CSV); a wrong layout
gives a readable error. Nothing here reaches the network."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ai_detector.pipeline.data.records import read_records
from ai_detector.pipeline.data.sources import SourceConfig, SourceError, read_source
from ai_detector.pipeline.prepare import load_source_configs, prepare
from tests.conftest import repo_params
from tests.datasets_helpers import (
    make_cifake_dataset,
    make_generated_or_not_dataset,
    make_hf_parquet_snapshot,
)

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "configs" / "sources" / "production.yaml"
STAND_INS = {
    "opendeepfake-preview": make_hf_parquet_snapshot,
    "cifake-kaggle": make_cifake_dataset,
    "generated-or-not": make_generated_or_not_dataset,
}


@pytest.fixture
def production(tmp_path) -> dict[str, SourceConfig]:
    """Each production source as configured, its path moved to a stand-in in its layout."""
    configs = {c.name: c for c in load_source_configs(PRODUCTION)}
    assert set(configs) == set(STAND_INS)
    return {
        name: dataclasses.replace(config, path=str(STAND_INS[name](tmp_path / name)))
        for name, config in configs.items()
    }


def test_production_sources_name_the_real_datasets():
    text = PRODUCTION.read_text()
    for fetch in (
        "hf download prithivMLmods/OpenDeepfake-Preview --repo-type dataset",
        "kaggle datasets download -d birdy654/cifake-real-and-ai-generated-synthetic-images",
        "kaggle competitions download -c generated-or-not",
    ):
        assert fetch in text
    # The README's data section gives the same commands: one place is copied from the other.
    readme = (ROOT / "README.md").read_text()
    fetches = [line.strip("# ").strip() for line in text.splitlines() if "download" in line]
    fetches = [line for line in fetches if line.startswith(("hf ", "kaggle "))]
    assert len(fetches) == 3 and all(line in readme for line in fetches)


def test_opendeepfake_preview_from_a_hub_snapshot(production, tmp_path):
    records = read_source(production["opendeepfake-preview"], cache_dir=tmp_path / "cache")
    assert Counter(r.label for r in records) == {"Deepfake": 3, "Real": 3}
    assert all(Path(r.path).is_file() and r.source_split == "" for r in records)


def test_cifake_in_kaggle_layout_keeps_its_test_split(production):
    records = read_source(production["cifake-kaggle"])
    assert Counter((r.label, r.source_split) for r in records) == {
        ("Real", "train"): 4,
        ("Real", "test"): 4,
        ("AI-generated", "train"): 4,
        ("AI-generated", "test"): 4,
    }


def test_generated_or_not_finds_ids_listed_without_their_suffix(production):
    records = read_source(production["generated-or-not"])
    assert sorted((Path(r.path).name, r.label) for r in records) == [
        ("g0.jpg", "Real"),
        ("g1.jpg", "AI-generated"),
        ("g2.jpg", "Real"),
        ("g3.jpg", "AI-generated"),
        ("g4.jpg", "Real"),
        ("g5.jpg", "AI-generated"),
    ]


def test_prepare_reads_every_production_source(production, tmp_path):
    sources = tmp_path / "production.yaml"
    entries = yaml.safe_load(PRODUCTION.read_text())["sources"]
    for entry in entries:
        entry["path"] = production[entry["name"]].path
    sources.write_text(yaml.safe_dump({"sources": entries}))
    report = prepare(
        repo_params(
            "prepare", sources=str(sources), seed=0, deepfakes_from="", reconstruct_from=()
        ),
        tmp_path / "out",
    )
    records = read_records(tmp_path / "out" / "records.csv")
    assert {r.source for r in records} == set(STAND_INS)
    assert report["total"] == len(records) == 6 + 16 + 6
    assert set(report["shortcuts"]["groups"]) >= set(STAND_INS)


def test_hf_folder_without_a_dataset_is_a_readable_error(production, tmp_path):
    empty = tmp_path / "empty"
    (empty / "data").mkdir(parents=True)
    config = dataclasses.replace(production["opendeepfake-preview"], path=str(empty))
    with pytest.raises(SourceError, match="neither a dataset saved with save_to_disk"):
        read_source(config, cache_dir=tmp_path / "cache")
    missing = dataclasses.replace(config, path=str(tmp_path / "not" / "fetched"))
    with pytest.raises(SourceError, match="is not a folder"):
        read_source(missing, cache_dir=tmp_path / "cache")


def test_hf_dataset_without_the_label_column_names_the_columns_it_has(production, tmp_path):
    snapshot = make_hf_parquet_snapshot(tmp_path / "other", label="is_fake")
    config = dataclasses.replace(production["opendeepfake-preview"], path=str(snapshot))
    with pytest.raises(SourceError, match=r"no column \['label'\]; it has \['image', 'is_fake'\]"):
        read_source(config, cache_dir=tmp_path / "cache")


def test_hf_class_outside_the_class_map_is_a_readable_error(production, tmp_path):
    snapshot = make_hf_parquet_snapshot(tmp_path / "three", names=("Fake", "Real", "Edited"))
    config = dataclasses.replace(production["opendeepfake-preview"], path=str(snapshot))
    with pytest.raises(SourceError, match="class 'Edited' is not in its class map"):
        read_source(config, cache_dir=tmp_path / "cache")


def test_cifake_without_its_split_level_is_a_readable_error(production):
    root = Path(production["cifake-kaggle"].path)
    shutil.rmtree(root / "test")
    for folder in (root / "train").iterdir():
        folder.rename(root / folder.name)
    (root / "train").rmdir()
    with pytest.raises(SourceError, match=r"holds class folders \['FAKE', 'REAL'\] directly"):
        read_source(production["cifake-kaggle"])


def test_generated_or_not_row_naming_no_file_is_a_readable_error(production):
    root = Path(production["generated-or-not"].path)
    (root / "images" / "g2.jpg").unlink()  # listed as the bare id "g2"
    with pytest.raises(SourceError, match=r"train.csv:4 names missing file .*images/g2"):
        read_source(production["generated-or-not"])


def test_readme_hub_fetch_runs_verbatim_as_far_as_an_offline_machine_allows(tmp_path):
    """The README's `hf download` line, run by bash as written: offline it must fail for
    want of the network, not for its arguments (a misspelt option or repo type)."""
    readme = (ROOT / "README.md").read_text()
    (line,) = [x for x in readme.splitlines() if x.startswith("hf download ")]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    result = subprocess.run(
        ["bash", "-c", line],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "offline mode is enabled" in result.stdout + result.stderr
    assert "huggingface.co/api/datasets/prithivMLmods/OpenDeepfake-Preview" in (
        result.stdout + result.stderr
    )


def test_hub_id_unreachable_is_a_readable_error(tmp_path):
    """The hub-id form of `path`, on a machine without the hub (forced offline, in a fresh
    process, since `datasets` reads the setting at import)."""
    code = (
        "from pathlib import Path\n"
        "from ai_detector.pipeline.data.sources import SourceConfig, SourceError, read_source\n"
        "hub_id = 'prithivMLmods/OpenDeepfake-Preview'\n"
        "config = SourceConfig('odp', 'hf', hub_id, {'Real': 'Real'})\n"
        "try:\n"
        "    read_source(config, cache_dir=Path('cache'))\n"
        "except SourceError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "source odp: could not load prithivMLmods/OpenDeepfake-Preview from the Hugging" in (
        result.stdout
    )
    assert "point path at the folder" in result.stdout
