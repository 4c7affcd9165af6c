"""Shortcut checks for the data report: can a file's format, size or JPEG quality tell its label?

A model learns whatever separates the classes. When a source's fakes are all PNG and its
real photos JPEG, or its fakes all 1024 px and its photos of every size, the label can be
read off the file without looking at the picture, and a model that learned that fails on
the first fake saved as JPEG. ``prepare`` therefore records, per source and label, the
distributions of these attributes, and flags each attribute that predicts the label:

    from ai_detector.pipeline.data.shortcuts import image_attributes, shortcut_report
    attributes = image_attributes(Image.open(path))      # {"format": "JPEG", ...}
    report = shortcut_report(rows)    # rows: (source, label, attributes) per file

How "predicts" is measured: a one-attribute classifier (each attribute value scored by
the share of the label among the files with that value, learned on the other four of
five folds) is scored by ROC-AUC on the held-out fold, label against the rest. An
attribute is flagged when that AUC reaches ``AUC_THRESHOLD`` (0.6) *and* lies more than
``NULL_SDS`` (3) standard deviations of the no-signal AUC above 0.5. Why 0.6: an attribute
worth ten AUC points is a cue a network picks up at once (it sees the resize and
compression traces), and a well-mixed collection stays well below it; below that the
differences are ordinary sampling noise of real collections. The 3-SD condition keeps
small sources (a few dozen files, where 0.6 arises by chance) from being flagged.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

ATTRIBUTES = ("format", "long_side", "megapixels", "jpeg_quality")
AUC_THRESHOLD = 0.6
NULL_SDS = 3.0
FOLDS = 5
ALL_SOURCES = "(all sources)"

# libjpeg's (IJG) luminance table at quality 50, in natural (row-major) order, which is
# the order Pillow reports ``Image.quantization`` in.
_IJG_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


def _ijg_table(quality: int) -> np.ndarray:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)


_IJG_TABLES = {quality: _ijg_table(quality) for quality in range(1, 101)}


def estimate_jpeg_quality(image: Image.Image) -> int | None:
    """The IJG quality (1-100) whose luminance table is closest to the file's, or None
    for a file without quantisation tables (not a JPEG). Encoders with their own tables
    (cameras, phones) get the nearest IJG quality, which is what a model would see."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    luma = np.asarray(list(tables[0]), dtype=np.float64)
    if luma.shape != _IJG_LUMA.shape:
        return None
    return min(_IJG_TABLES, key=lambda q: float(np.abs(_IJG_TABLES[q] - luma).sum()))


def _bucket(value: float, edges: Sequence[float], unit: str) -> str:
    for edge in edges:
        if value <= edge:
            return f"<={edge:g}{unit}"
    return f">{edges[-1]:g}{unit}"


def _quality_range(quality: int) -> str:
    low = max((edge for edge in (1, 50, 70, 80, 90, 95, 100) if edge <= quality), default=1)
    high = {1: 49, 50: 69, 70: 79, 80: 89, 90: 94, 95: 99, 100: 100}[low]
    return f"q{low}-{high}" if high != low else f"q{low}"


def image_attributes(image: Image.Image) -> dict[str, str]:
    """Format, size buckets and JPEG quality bucket of an opened (not decoded) image."""
    width, height = image.size
    quality = estimate_jpeg_quality(image)
    return {
        "format": image.format or "?",
        "long_side": _bucket(max(width, height), (64, 256, 512, 768, 1024, 1536, 2048), "px"),
        "megapixels": _bucket(width * height / 1e6, (0.01, 0.1, 0.3, 0.6, 1.1, 2.5, 6), "MP"),
        "jpeg_quality": "not JPEG" if quality is None else _quality_range(quality),
    }


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC-AUC by the Mann-Whitney statistic, ties counted half."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over runs of equal scores
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def attribute_auc(values: Sequence[str], positive: Sequence[bool]) -> float:
    """Held-out ROC-AUC of a classifier that knows only this attribute (see module doc)."""
    target = np.asarray(positive, dtype=bool)
    folds = np.arange(len(values)) % FOLDS
    scores = np.empty(len(values), dtype=np.float64)
    for fold in range(FOLDS):
        train = folds != fold
        prior = float(target[train].mean()) if train.any() else 0.5
        hits: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        for index in np.flatnonzero(train).tolist():
            seen[values[index]] += 1
            hits[values[index]] += int(target[index])
        for index in np.flatnonzero(~train).tolist():
            value = values[index]
            # One pseudo-file at the prior: a value seen once says little.
            scores[index] = (hits[value] + prior) / (seen[value] + 1)
    return _auc(scores, target)


def null_auc_sd(n_pos: int, n_neg: int) -> float:
    """Standard deviation of the AUC of an attribute unrelated to the label."""
    return math.sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg))


def _check_group(rows: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    labels = Counter(label for label, _ in rows)
    result: dict[str, Any] = {"files": dict(labels), "attributes": {}}
    for attribute in ATTRIBUTES:
        distribution: dict[str, Counter[str]] = defaultdict(Counter)
        for label, attributes in rows:
            distribution[label][attributes[attribute]] += 1
        entry: dict[str, Any] = {"distribution": {k: dict(v) for k, v in distribution.items()}}
        if len(labels) > 1:
            values = [attributes[attribute] for _, attributes in rows]
            entry["auc"] = {}
            flagged = []
            for label in sorted(labels):
                positive = [row_label == label for row_label, _ in rows]
                auc = round(attribute_auc(values, positive), 3)
                limit = max(
                    AUC_THRESHOLD,
                    0.5 + NULL_SDS * null_auc_sd(labels[label], len(rows) - labels[label]),
                )
                entry["auc"][label] = auc
                if auc >= limit:
                    flagged.append(label)
            entry["flagged_labels"] = flagged
        result["attributes"][attribute] = entry
    return result


def shortcut_report(rows: Iterable[tuple[str, str, dict[str, str]]]) -> dict[str, Any]:
    """Per source (and over all sources pooled): attribute distributions per label, the
    held-out AUC of each attribute per label (label against the rest), and the flags."""
    by_source: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
    pooled: list[tuple[str, dict[str, str]]] = []
    for source, label, attributes in rows:
        by_source[source].append((label, attributes))
        pooled.append((label, attributes))
    groups = {source: _check_group(group) for source, group in sorted(by_source.items())}
    if len(by_source) > 1:
        groups[ALL_SOURCES] = _check_group(pooled)
    flags = [
        f"{source}: {attribute} predicts {label} (held-out AUC {entry['auc'][label]:.2f})"
        for source, group in groups.items()
        for attribute, entry in group["attributes"].items()
        for label in entry.get("flagged_labels", [])
    ]
    return {
        "rule": f"flagged when a one-attribute classifier's held-out AUC >= {AUC_THRESHOLD} "
        f"and > 0.5 + {NULL_SDS:g} SD of the no-signal AUC",
        "groups": groups,
        "flags": flags,
    }


def log_flags(report: dict[str, Any]) -> None:
    for flag in report["flags"]:
        log.warning("shortcut: %s", flag)
    if not report["flags"]:
        log.info("shortcut checks: no attribute predicts a label (%s)", report["rule"])
