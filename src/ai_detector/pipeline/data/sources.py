"""Dataset layouts, each read into :class:`Record` lists with the project's labels.

- ``folder``: ``<root>/<class>/*`` (the development sets in ../shared/data);
- ``split_folder``: ``<root>/<split>/<class>/*`` (CIFAKE's Kaggle layout, train|test / REAL|FAKE);
- ``csv``: images plus a labels CSV (Kaggle "generated-or-not": ``train.csv`` with ``id`` and
  ``target`` columns, the images in ``images/`` (``options: {image_dir: images}``), some ids
  without their file's suffix);
- ``hf``: a Hugging Face dataset (OpenDeepfake-Preview), from the hub or a local copy;
- ``github``: named files of a public GitHub repository at one commit (:mod:`.github`).

A source is described by a :class:`SourceConfig` (from configs/sources/*.yaml;
defined in :mod:`.source_config`, which the ``hf`` reader imports too).
Files whose class is not in the source's class map raise an error rather than
vanishing; non-image files are counted and reported by the caller.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ai_detector.inference.formats import IMAGE_SUFFIXES
from ai_detector.pipeline.data.records import Record, sha256_file
from ai_detector.pipeline.data.source_config import SourceConfig, SourceError, label_for

# Callers import the source's description and its error from here, beside read_source.
__all__ = ["SourceConfig", "SourceError", "read_source"]

log = logging.getLogger(__name__)


def _images_in(folder: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    return images, others


def _class_folders(config: SourceConfig, root: Path, split: str = "") -> Iterator[Record]:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise SourceError(f"source {config.name}: no class folders in {root}")
    for folder in folders:
        label = label_for(config, folder.name, str(folder))
        images, others = _images_in(folder)
        if others:
            log.warning(
                "source %s: skipped %d non-image files in %s", config.name, len(others), folder
            )
        if not images:
            raise SourceError(f"source {config.name}: class folder {folder} holds no images")
        for path in images:
            yield Record(str(path), label, config.name, sha256_file(path), source_split=split)


def _read_folder(config: SourceConfig, root: Path) -> Iterator[Record]:
    yield from _class_folders(config, root)


def _read_split_folder(config: SourceConfig, root: Path) -> Iterator[Record]:
    splits = sorted(p for p in root.iterdir() if p.is_dir())
    if not splits:
        raise SourceError(f"source {config.name}: no split folders (train/test) in {root}")
    if classes_on_top := [p.name for p in splits if p.name in config.classes]:
        raise SourceError(
            f"source {config.name}: {root} holds class folders {classes_on_top} directly; "
            "layout split_folder expects <root>/<split>/<class>/ (CIFAKE: train|test/REAL|FAKE), "
            "layout folder reads <root>/<class>/"
        )
    for split_dir in splits:
        split = "test" if split_dir.name.lower() in ("test", "testing") else split_dir.name.lower()
        yield from _class_folders(config, split_dir, split)


def _read_csv(config: SourceConfig, root: Path) -> Iterator[Record]:
    labels_path = root / config.labels_file
    if not labels_path.is_file():
        raise SourceError(f"source {config.name}: no labels file {labels_path}")
    with labels_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise SourceError(f"source {config.name}: {labels_path} has no rows")
    for number, row in enumerate(rows, start=2):
        if config.file_column not in row or config.label_column not in row:
            raise SourceError(
                f"source {config.name}: {labels_path} needs columns "
                f"{config.file_column!r} and {config.label_column!r}, has {sorted(row)}"
            )
        where = f"{labels_path}:{number}"
        label = label_for(config, row[config.label_column].strip(), where)
        path = _csv_image(config, root / config.options.get("image_dir", ""), row, where)
        yield Record(str(path), label, config.name, sha256_file(path))


def _csv_image(config: SourceConfig, folder: Path, row: dict[str, str], where: str) -> Path:
    """The file a CSV row names; a bare name (generated-or-not lists some ids without
    their suffix) matches the one image file with that stem."""
    path = folder / row[config.file_column].strip()
    if path.is_file():
        return path
    if not path.suffix:
        matches = [
            p
            for p in path.parent.glob(glob.escape(path.name) + ".*")
            if p.suffix.lower() in IMAGE_SUFFIXES
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = sorted(p.name for p in matches)
            raise SourceError(
                f"source {config.name}: {where} names {path.name}, which matches {names}"
            )
    raise SourceError(f"source {config.name}: {where} names missing file {path}")


def read_source(config: SourceConfig, cache_dir: Path | None = None) -> list[Record]:
    """All records of one source, balanced down to ``max_per_class`` if set."""
    if config.layout == "hf":
        from ai_detector.pipeline.data.hf import read_hf

        records = read_hf(config, cache_dir or Path("data/cache"))
    elif config.layout == "github":
        from ai_detector.pipeline.data.github import read_github

        records = list(read_github(config, cache_dir or Path("data/cache")))
    else:
        root = Path(config.path)
        if not root.is_dir():
            raise SourceError(f"source {config.name}: {root} is not a folder")
        readers = {"folder": _read_folder, "split_folder": _read_split_folder, "csv": _read_csv}
        records = list(readers[config.layout](config, root))
    if config.group_by:
        records = _with_groups(config, records)
    if config.keep_groups:
        found = {r.group for r in records}
        if unknown := sorted(set(config.keep_groups) - found):
            raise SourceError(
                f"source {config.name}: keep_groups {unknown} match no record; "
                f"its groups are {sorted(found)}"
            )
        records = [r for r in records if r.group in config.keep_groups]
    if config.max_per_class:  # after keep_groups, so the cap counts the kept records
        records = _cap_per_class(records, config.max_per_class)
    log.info("source %s: %d records", config.name, len(records))
    return records


def _with_groups(config: SourceConfig, records: list[Record]) -> list[Record]:
    generators: dict[str, str] = {}
    if config.group_by == "manifest":
        manifest = Path(config.path) / "manifest.json"
        if not manifest.is_file():
            raise SourceError(f"source {config.name}: group_by manifest needs {manifest}")
        root = Path(config.path).resolve()
        generators = {
            str(root / entry["file"]): str(entry.get("generator", ""))
            for entry in json.loads(manifest.read_text())
        }

    def key(record: Record) -> str:
        path = Path(record.path)
        if config.group_by == "class":
            return path.parent.name
        if config.group_by == "prefix":
            return path.name.split("_", 1)[0]
        generator = generators.get(str(path.resolve()))
        if not generator:
            raise SourceError(f"source {config.name}: {path} has no generator in manifest.json")
        return generator.split(" (", 1)[0]  # "DeepFloyd IF (IF-ddim-50)": the family

    keys = [key(r) for r in records]
    return [replace(r, group=config.groups.get(k, k)) for r, k in zip(records, keys, strict=True)]


def _cap_per_class(records: list[Record], cap: int) -> list[Record]:
    """Keep ``cap`` records per (label, source split), chosen by hash: stable and unbiased."""
    kept: list[Record] = []
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        groups.setdefault((record.label, record.source_split), []).append(record)
    for group in groups.values():
        kept.extend(sorted(group, key=lambda r: r.sha256)[:cap])
    return kept
