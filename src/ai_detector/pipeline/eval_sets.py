"""The evaluation-only sets of the generalise stage, scored clean and after an identical re-encode.

    from ai_detector.pipeline.eval_sets import score_sets, reencode

Each set of ``generalise.eval_sources`` (never trained on by any row) gets the model's
ROC-AUC of P(not real): a set with both classes on its own, a fakes-only set against the
real test images (faces against the ``face_reals`` group's test faces resized to
``face_sizes``), a reals-only set (camera photos as users upload them) against the fake
test images; and at the model's threshold the share of its fakes caught (fake recall) and
of its reals called not real (false-positive rate). Then every image on both sides is
re-encoded the same way, resized (up or down) so its long side is ``reencode_long_side``
px and saved as JPEG of ``reencode_quality``, and scored again from those bytes as an
upload would be. A model that reads size or format rather than the picture moves between
the two figures; issue #23 asks for them within 0.03 of each other.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ai_detector.inference.preprocess import MIN_SIDE, decode_image
from ai_detector.pipeline.data.encoding import jpeg_bytes, to_long_side
from ai_detector.pipeline.data.records import REAL, Record
from ai_detector.pipeline.data.sources import read_source
from ai_detector.pipeline.generalise_folds import auc
from ai_detector.pipeline.onnx_features import ImageBytes
from ai_detector.pipeline.params import GeneraliseParams
from ai_detector.pipeline.prepare import load_source_configs

# P(not real) for records, each read as the bytes an optional function makes (None: the
# file's own), named by a cache tag. Bytes, not arrays: every model preprocesses them by
# its own ImageSpec, so one set of views serves models of different inputs alike.
Scorer = Callable[[list[Record], str, ImageBytes | None], np.ndarray]


def _resized_jpeg(image: Image.Image, long_side: int, quality: int) -> bytes:
    return jpeg_bytes(to_long_side(image, long_side, min_side=MIN_SIDE), quality)


def resized_face(record: Record, low: int, high: int, quality: int = 90) -> bytes:
    """A real face resized to a seeded size in [low, high] and re-encoded as JPEG, so a
    fake face of that size range cannot be told from it by size or encoding."""
    side = random.Random(record.sha256).randint(low, high)
    return _resized_jpeg(decode_image(record.read_bytes()), side, quality)


def reencode(data: bytes, long_side: int, quality: int) -> bytes:
    """Encoded image -> JPEG bytes of ``quality`` whose long side is ``long_side`` px.

    Decoded by the inference core (EXIF orientation applied, transparency flattened on
    white, RGB), resized with Lanczos whether that enlarges or shrinks it, and nothing
    else: the function never sees a label, so both classes are treated alike.
    """
    return _resized_jpeg(decode_image(data), long_side, quality)


class View(NamedTuple):
    """How a view's images are made: for the sets' own images and the test reals (cache
    tag, bytes; None is the file's own bytes) and for the resized faces."""

    suffix: str  # of its figures' keys: roc_auc{suffix}, fake_recall{suffix}
    tag: str
    image_bytes: ImageBytes | None
    faces_tag: str
    faces_bytes: ImageBytes


class Partners(NamedTuple):
    """The test images a one-class set is ranked against, and how they are viewed."""

    against: str  # recorded in the figures
    records: list[Record]
    are_fake: bool = False
    resized_faces: bool = False


def views(params: GeneraliseParams) -> list[View]:
    """The clean view, then the re-encoded one: the same images, each re-encoded alike."""
    low, high = params.face_sizes
    side, quality = params.reencode_long_side, params.reencode_quality
    faces, again = f"faces-{low}-{high}", f"reencode-{side}-q{quality}"

    def face(record: Record) -> bytes:
        return resized_face(record, low, high)

    return [
        View("", "clean", None, faces, face),
        View(
            "_reencoded",
            again,
            lambda r: reencode(r.read_bytes(), side, quality),
            f"{faces}-{again}",
            lambda r: reencode(face(r), side, quality),
        ),
    ]


def score_sets(
    fake_scores: Scorer,
    params: GeneraliseParams,
    test: list[Record],
    threshold: float,
) -> dict[str, Any]:
    """Each evaluation-only set's ROC-AUC (with partners from the test split as needed),
    fake recall and false-positive rate, clean and re-encoded, and the difference
    (re-encoded minus clean)."""
    configs = load_source_configs(params.eval_sources) if params.eval_sources else []
    faces = [r for r in test if r.origin == params.face_reals and r.label == REAL]
    reals = [r for r in test if r.label == REAL]
    fakes = [r for r in test if r.label != REAL]
    results: dict[str, Any] = {}
    for config in configs:
        records = read_source(config)
        is_fake = np.array([r.label != REAL for r in records])
        if is_fake.any() and not is_fake.all():
            partners = Partners("its own reals", [])
        elif not is_fake.any():  # real photos only: ranked against the test fakes
            partners = Partners("test fakes", fakes, are_fake=True)
        elif config.name == params.faces_source:
            # Resized into the fake faces' size range, or size would rank them.
            partners = Partners(f"{params.face_reals} test faces", faces, resized_faces=True)
        else:
            partners = Partners("test reals", reals)
        partner_is_fake = np.full(len(partners.records), partners.are_fake)
        entry: dict[str, Any] = {"n": len(records), "against": partners.against}
        for view in views(params):
            scores = fake_scores(records, view.tag, view.image_bytes)
            if not partners.records:
                partner = np.zeros(0)
            elif partners.resized_faces:
                partner = fake_scores(partners.records, view.faces_tag, view.faces_bytes)
            else:
                partner = fake_scores(partners.records, view.tag, view.image_bytes)
            entry["n_against"] = len(partner)
            y = np.r_[is_fake, partner_is_fake]
            entry[f"roc_auc{view.suffix}"] = auc(y, np.r_[scores, partner])
            flagged = scores >= threshold
            entry[f"fake_recall{view.suffix}"] = _share(flagged[is_fake])
            # What a user with real photos meets: the share of them called not real.
            entry[f"false_positive_rate{view.suffix}"] = _share(flagged[~is_fake])
            if view.suffix:
                continue
            entry["per_group"] = {}
            for group in sorted({r.origin for r in records}):
                mask = np.array([r.origin == group for r in records])
                entry["per_group"][group] = {
                    "n": int(mask.sum()),
                    "roc_auc": auc(
                        np.r_[is_fake[mask], partner_is_fake], np.r_[scores[mask], partner]
                    ),
                }
        clean, again = entry["roc_auc"], entry["roc_auc_reencoded"]
        entry["reencode_diff"] = None if clean is None or again is None else again - clean
        results[config.name] = entry
    return results


def _share(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if flags.size else None


def largest_reencode_diff(sets: dict[str, Any]) -> float | None:
    """The largest |re-encoded - clean| ROC-AUC over the sets (None without any)."""
    diffs = [abs(e["reencode_diff"]) for e in sets.values() if e["reencode_diff"] is not None]
    return max(diffs) if diffs else None
