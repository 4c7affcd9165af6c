"""Distillation of the CLIP teacher into the CNN: its head (recipes) or its fine-tune.

    from ai_detector.pipeline.distil import distilled_probe        # the recipe rows
    python -m ai_detector.pipeline.distil --records data/prepared/records.csv \
        --out data/distilled/records.csv [--weight 0.5]             # for the train stage
    python -m ai_detector.pipeline.distil --records data/prepared/records.csv \
        --out data/distilled/models --soft [--weight 0.5]           # the fine-tune itself

A student learns from a teacher what the labels alone do not say: which fakes look real
and which photos look made. For that the teacher's opinion of a training image must not
come from a head fitted on that image (it would just repeat the label), so
``out_of_fold_scores`` gives each training row the P(not real) of a teacher head fitted
on the other folds. ``with_teacher_labels`` then trains the student towards the soft
target ``(1 - weight) * label + weight * teacher``, as labels drawn from it for a few
copies of each row: the fitting code (``fit_probe``, hard labels, rows may repeat) is the
one every other recipe uses. For the fine-tune the same draw, once per training image,
relabels a records file (validation and test keep their labels, so early stopping and
every figure still judge by the truth); the train stage then runs on it unchanged.
Measured, that fine-tune fell on five of the six evaluation-only sets (one fixed draw per
image is label noise a backbone memorises; docs/experiments.md). ``--soft`` avoids the
draw: the fine-tune learns the mixture itself as soft targets (``soft_targets``) and
writes a checkpoint as the train stage does. Both are experiments, not the recipe.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ai_detector.pipeline.data.records import (
    AI_GENERATED,
    REAL,
    Record,
    ordered_labels,
    read_records,
    write_records,
)
from ai_detector.pipeline.generalise_folds import LinearProbe, fit_probe
from ai_detector.pipeline.onnx_features import Extractor, cached_run
from ai_detector.pipeline.params import TrainParams, load_params
from ai_detector.pipeline.stage import LOG_FORMAT, RECORDS, stage_parser
from ai_detector.pipeline.teacher import EmbeddingExtractor, teacher_model
from ai_detector.pipeline.train import train

log = logging.getLogger(__name__)

OOF_FOLDS = 5
# (rows to fit, rows to stop early on) -> P(not real) for the rows given to it.
TeacherFactory = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def out_of_fold_scores(
    rows: np.ndarray, stop: np.ndarray, teacher: TeacherFactory, folds: int, seed: int
) -> np.ndarray:
    """P(not real) for each of ``rows`` (indices, unique) from a teacher fitted without it."""
    order = np.random.default_rng(seed).permutation(len(rows))
    scores = np.empty(len(rows))
    for part in np.array_split(order, folds):
        rest = np.setdiff1d(order, part)
        scores[part] = teacher(rows[rest], stop)(rows[part])
    return scores


def with_teacher_labels(
    rows: np.ndarray,
    y: np.ndarray,
    teacher_fake: np.ndarray,
    weight: float,
    labels: tuple[int, int],
    seed: int,
    copies: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, their labels) to fit on: each of ``rows`` ``copies`` times, each copy
    labelled by its own draw, so that a row's expected target is
    ``(1 - weight) * its label + weight * the teacher's opinion``.

    ``teacher_fake`` is the teacher's P(not real) per row of ``rows``; ``labels`` are
    (real, fake): a copy the teacher draws fake keeps its row's own label when that is a
    fake one (AI-generated or Deepfake), else gets ``fake``.
    """
    _check_weight(weight)
    real, fake = labels
    rng = np.random.default_rng(seed)
    rows = np.repeat(rows, copies)
    own = y[rows]
    teacher_says_fake = rng.random(len(rows)) < np.repeat(teacher_fake, copies)
    teachers = np.where(teacher_says_fake, np.where(own != real, own, fake), real)
    return rows, np.where(rng.random(len(rows)) < weight, teachers, own)


def _check_weight(weight: float) -> None:
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the teacher's weight must be in [0, 1], got {weight}")


def heads_on(
    features: np.ndarray, y: np.ndarray, n_labels: int, real: int, params: TrainParams
) -> TeacherFactory:
    """The teacher: (rows to fit, rows to stop on) -> P(not real) of a head on ``features``."""

    def fitted(rows: np.ndarray, stop: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        probe = fit_probe(features, y, rows, stop, n_labels, real, params)
        return lambda scored: probe.fake_score(features[scored])

    return fitted


def as_indices(rows: np.ndarray) -> np.ndarray:
    return np.flatnonzero(rows) if rows.dtype == bool else rows


def distilled_probe(
    student: np.ndarray,
    teacher: np.ndarray,
    y: np.ndarray,
    fit: np.ndarray,
    stop: np.ndarray,
    weight: float,
    labels: tuple[int, int, int],
    params: TrainParams,
) -> LinearProbe:
    """A head on ``student`` features fitted on rows ``fit`` towards the mixture of their
    labels and the out-of-fold opinion of heads on ``teacher`` features; early-stopped on
    the plain labels of rows ``stop``. ``labels``: (number of labels, real, fake)."""
    n_labels, real, fake = labels
    fit, stop = as_indices(fit), as_indices(stop)
    unique = np.unique(fit)

    teacher_head = heads_on(teacher, y, n_labels, real, params)
    opinion = out_of_fold_scores(unique, stop, teacher_head, OOF_FOLDS, params.seed)
    rows, targets = with_teacher_labels(
        fit, y, opinion[np.searchsorted(unique, fit)], weight, (real, fake), params.seed
    )
    x = np.concatenate([student[rows], student[stop]])
    t = np.concatenate([targets, y[stop]])
    own = np.arange(len(rows))
    return fit_probe(x, t, own, np.arange(len(rows), len(x)), n_labels, real, params)


@dataclasses.dataclass(frozen=True)
class TrainingOpinion:
    """The teacher's out-of-fold P(not real) for each training record."""

    labels: tuple[str, ...]
    rows: np.ndarray  # indices of the training records
    y: np.ndarray  # every record's label index
    fake: np.ndarray  # per row of ``rows``


def training_opinion(
    records: list[Record], teacher: Extractor, cache: Path | None, params: TrainParams
) -> TrainingOpinion:
    labels = ordered_labels({r.label for r in records})
    features, _ = cached_run(teacher, records, cache, batch_size=32)
    y = np.array([labels.index(r.label) for r in records])
    split = np.array([r.split for r in records])
    fit, stop = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    teacher_head = heads_on(features, y, len(labels), labels.index(REAL), params)
    fake = out_of_fold_scores(fit, stop, teacher_head, OOF_FOLDS, params.seed)
    return TrainingOpinion(labels, fit, y, fake)


def teacher_labelled(
    records: list[Record], opinion: TrainingOpinion, weight: float, seed: int
) -> list[Record]:
    """``records`` with each training image's label drawn once from the mixture of its
    label and the teacher's opinion."""
    labels = opinion.labels
    real, fake = labels.index(REAL), labels.index(AI_GENERATED)
    rows, drawn = with_teacher_labels(
        opinion.rows, opinion.y, opinion.fake, weight, (real, fake), seed, 1
    )
    relabelled = list(records)
    for row, label in zip(rows, drawn, strict=True):
        relabelled[row] = dataclasses.replace(records[row], label=labels[label])
    changed = int((drawn != opinion.y[rows]).sum())
    log.info(
        "teacher weight %.2f: %d of %d training labels drawn otherwise", weight, changed, len(rows)
    )
    return relabelled


def soft_targets(
    records: list[Record], opinion: TrainingOpinion, weight: float
) -> dict[str, np.ndarray]:
    """sha256 -> ``(1 - weight) * one-hot label + weight * the teacher's distribution`` for
    each training record; the teacher's P(not real) goes to the record's own label when
    that is a fake one, else to AI-generated."""
    _check_weight(weight)
    labels = opinion.labels
    real, fake = labels.index(REAL), labels.index(AI_GENERATED)
    targets = {}
    for row, p_fake in zip(opinion.rows, opinion.fake, strict=True):
        own = int(opinion.y[row])
        teacher = np.zeros(len(labels))
        teacher[real] = 1.0 - p_fake
        teacher[own if own != real else fake] += p_fake
        targets[records[row].sha256] = (1.0 - weight) * np.eye(len(labels))[own] + weight * teacher
    return targets


def main(argv: list[str] | None = None) -> int:
    paths = {
        "records": RECORDS,
        "out": None,
        "cache": "data/features",
        "teacher": "configs/teacher.yaml",
        "teacher_cache": "data/cache",
    }
    parser = stage_parser(__doc__, paths)
    parser.add_argument("--weight", type=float, default=0.5, help="the teacher's share")
    parser.add_argument(
        "--soft",
        action="store_true",
        help="fine-tune towards the soft targets into --out (a models folder) "
        "instead of writing relabelled records to --out",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        parser.error("--out is required")
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    params = load_params(args.params)
    teacher = EmbeddingExtractor(
        teacher_model(args.teacher, args.teacher_cache), params.generalise.threads
    )
    records = read_records(args.records)
    opinion = training_opinion(records, teacher, args.cache, params.train)
    if args.soft:
        targets = soft_targets(records, opinion, args.weight)
        train(params.train, args.records, args.out, args.cache, soft_targets=targets)
    else:
        write_records(teacher_labelled(records, opinion, args.weight, params.train.seed), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
