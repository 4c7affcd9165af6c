"""DVC stage ``prepare``: read the sources, verify, de-duplicate, split, report.

    python -m ai_detector.pipeline.prepare [--params params.yaml] [--out data/prepared]
        [--cache data/cache]

Writes ``records.csv`` (path, label, source, sha256, split) and ``report.json``
(counts per source/label/split, image size and format statistics per label, the
files carrying provenance metadata per source/label, the shortcut checks of
:mod:`ai_detector.pipeline.data.shortcuts` (format, size and JPEG quality per source and label,
and the attributes that predict a label, also logged as warnings), and every skipped
file with its reason). A file that cannot be decoded is skipped and
counted, never dropped silently; an image whose bytes appear twice is kept once,
and bytes that appear under two labels are dropped and reported.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageOps

from ai_detector.inference.errors import InputError
from ai_detector.inference.preprocess import decode_image
from ai_detector.inference.provenance import read_provenance
from ai_detector.pipeline.data.blend import encode_like, self_blend
from ai_detector.pipeline.data.records import DEEPFAKE, REAL, Record, write_records
from ai_detector.pipeline.data.shortcuts import image_attributes, log_flags, shortcut_report
from ai_detector.pipeline.data.sources import SourceConfig, read_source
from ai_detector.pipeline.data.splits import assign_splits
from ai_detector.pipeline.params import Params, PrepareParams
from ai_detector.pipeline.stage import run_stage
from ai_detector.pipeline.tracking import log_artifacts, log_metrics

log = logging.getLogger(__name__)


def load_source_configs(path: str | Path) -> list[SourceConfig]:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    configs = []
    for entry in raw.get("sources", []):
        if "hf_splits" in entry:
            entry["hf_splits"] = tuple(entry["hf_splits"])
        configs.append(SourceConfig(**entry))
    if not configs:
        raise ValueError(f"{path} lists no sources")
    return configs


def _inspect(record: Record) -> tuple[str, tuple[int, int], str | None, dict[str, str]]:
    """Format, size, provenance kind (see :func:`provenance_counts`) and shortcut attributes
    of a record's image; raises InputError when it cannot be decoded."""
    data = record.read_bytes()
    decode_image(data, draft_size=64)  # raises InputError on bad data; draft keeps it cheap
    header = Image.open(io.BytesIO(data))
    stated = read_provenance(data)
    camera = "camera-exif" if "camera" in stated.details else None
    kind = stated.source if stated.present else camera
    return header.format or "?", header.size, kind, image_attributes(header)


def provenance_counts(
    records: list[Record], kinds: dict[str, str | None]
) -> dict[str, dict[str, dict[str, int]]]:
    """Per source and label: files, files stating any provenance, and each kind.

    Metadata that gives a label away is a shortcut a model could learn if it saw it;
    it does not (preprocessing keeps only pixels), but the counts show how far a
    source's labels can be read off its files (camera EXIF on every real photo, say).
    """
    counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for record in records:
        kind = kinds.get(record.path)
        row = counts[record.source][record.label]
        row["files"] += 1
        if kind:
            row[kind] += 1
        if kind and kind != "camera-exif":  # camera EXIF claims nothing; counted apart
            row["any"] += 1
    return {s: {label: dict(c) for label, c in v.items()} for s, v in counts.items()}


def deduplicate(records: list[Record]) -> tuple[list[Record], list[dict[str, str]]]:
    by_hash: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_hash[record.sha256].append(record)
    kept, dropped = [], []
    for group in by_hash.values():
        labels = {r.label for r in group}
        if len(labels) > 1:
            dropped += [
                {"path": r.path, "reason": f"same bytes under labels {sorted(labels)}"}
                for r in group
            ]
            continue
        # Prefer a copy the source placed in its test split, so test stays test.
        group.sort(key=lambda r: (r.source_split != "test", r.path))
        kept.append(group[0])
        dropped += [{"path": r.path, "reason": f"duplicate of {group[0].path}"} for r in group[1:]]
    return kept, dropped


def synthesize_deepfakes(
    records: list[Record], params: PrepareParams, out_dir: Path
) -> list[Record]:
    """Self-blended deepfakes of a share of one source's real images, each in its parent's split."""
    rng = random.Random(params.seed)
    parents = [r for r in records if r.source == params.deepfakes_from and r.label == REAL]
    if not parents:
        raise ValueError(
            f"deepfakes_from={params.deepfakes_from!r} names no source with real images"
        )
    target = out_dir / "synthetic"
    target.mkdir(parents=True, exist_ok=True)
    made = []
    for parent in parents:
        if rng.random() >= params.deepfakes_per_real:
            continue
        data = parent.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            fake = encode_like(self_blend(ImageOps.exif_transpose(image), rng), image.format)
        digest = hashlib.sha256(fake).hexdigest()
        path = target / f"{digest[:16]}.jpg"
        path.write_bytes(fake)
        made.append(Record(str(path), DEEPFAKE, f"sbi-{parent.source}", digest, parent.split))
    log.info("made %d self-blended deepfakes from %s", len(made), params.deepfakes_from)
    return made


def build_report(
    records: list[Record],
    stats: dict[str, Any],
    skipped: list[dict[str, str]],
    provenance: dict[str, Any] | None = None,
    shortcuts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    counts: dict[str, Any] = defaultdict(lambda: defaultdict(Counter))
    for record in records:
        counts[record.source][record.label][record.split] += 1
    return {
        "total": len(records),
        "counts": {s: {lab: dict(c) for lab, c in v.items()} for s, v in counts.items()},
        "by_label": stats,
        "provenance": provenance or {},
        "shortcuts": shortcuts or {},
        "skipped": skipped,
    }


def prepare(params: PrepareParams, out_dir: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    cache_dir = cache_dir or out_dir / "cache"
    records: list[Record] = []
    for config in load_source_configs(params.sources):
        records.extend(read_source(config, cache_dir=cache_dir))
    good, skipped = [], []
    formats: dict[str, Counter[str]] = defaultdict(Counter)
    sizes: dict[str, list[tuple[int, int]]] = defaultdict(list)
    kinds: dict[str, str | None] = {}
    attributes: dict[str, dict[str, str]] = {}
    for record in records:
        try:
            fmt, size, kinds[record.path], attributes[record.path] = _inspect(record)
        except (InputError, OSError) as error:
            skipped.append({"path": record.path, "reason": str(error)})
            continue
        formats[record.label][fmt] += 1
        sizes[record.label].append(size)
        good.append(record)
    unique, dropped = deduplicate(good)
    skipped += dropped
    split = assign_splits(unique, params)
    if params.deepfakes_from:
        split += synthesize_deepfakes(split, params, out_dir)
    if params.reconstruct_from:
        from ai_detector.pipeline.data.reconstruct import reconstruct

        split += reconstruct(split, params, cache_dir, out_dir)
    stats = {
        label: {
            "formats": dict(formats[label]),
            "mean_width": sum(w for w, _ in sizes[label]) / len(sizes[label]),
            "mean_height": sum(h for _, h in sizes[label]) / len(sizes[label]),
        }
        for label in sizes
    }
    for record in split:  # the synthetic deepfakes: their encoding can be a shortcut too
        if record.path not in attributes:
            with Image.open(record.path) as image:
                attributes[record.path] = image_attributes(image)
    shortcuts = shortcut_report((r.source, r.label, attributes[r.path]) for r in split)
    # Over the de-duplicated source files; the synthetic deepfakes are made from pixels.
    report = build_report(split, stats, skipped, provenance_counts(unique, kinds), shortcuts)
    write_records(split, out_dir / "records.csv")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("prepared %d records (%d skipped) into %s", len(split), len(skipped), out_dir)
    for entry in skipped[:20]:
        log.warning("skipped %s: %s", entry["path"], entry["reason"])
    log_flags(shortcuts)
    return report


def main(argv: list[str] | None = None) -> int:
    # --cache: fetched and derived files (GitHub blobs, reconstructions), kept across runs.
    return run_stage(
        "prepare", __doc__, _run, argv, {"out": "data/prepared", "cache": "data/cache"}
    )


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    report = prepare(params.prepare, args.out, args.cache)
    log_metrics(
        mlflow,
        {"total": report["total"], "skipped": len(report["skipped"]), "counts": report["counts"]},
    )
    log_artifacts(mlflow, args.out / "report.json")


if __name__ == "__main__":
    raise SystemExit(main())
