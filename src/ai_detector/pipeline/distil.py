"""Distillation of the CLIP teacher into the CNN: its head (recipes) or its fine-tune.

    from ai_detector.pipeline.distil import distilled_probe    # the recipe rows
    from ai_detector.pipeline.distil import teacher_targets    # the train and logo stages

A student learns from a teacher what the labels alone do not say: which fakes look real
and which photos look made. For that the teacher's opinion of a training image must not
come from a head fitted on that image (it would just repeat the label), so
``out_of_fold_scores`` gives each training row the P(not real) of a teacher head fitted
on the other folds.

The fine-tune (``train.teacher_weight``) learns ``(1 - weight) * label + weight *
teacher`` as soft targets: ``teacher_targets`` turns the teacher's embeddings (stage
``teacher``, ai_detector.pipeline.teacher) into them for the records given, so a
leave-one-generator-out fold's teacher never sees the held-out group either. Validation
and test keep their labels: early stopping and every figure judge by the truth. A head
(``distilled_probe``) learns the same mixture as labels drawn from it for a few copies of
each row, so that the fitting code every other recipe uses serves it unchanged.
(Relabelling a records file by one such draw per image, measured on 2026-12-06, fell on
five of six evaluation-only sets: label noise a backbone memorises. docs/experiments.md)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ai_detector.pipeline.data.embeddings import TEACHER_SPLITS, read_embeddings
from ai_detector.pipeline.data.records import AI_GENERATED, REAL, Record, ordered_labels
from ai_detector.pipeline.finetune import SoftTargets
from ai_detector.pipeline.generalise_folds import LinearProbe, fit_probe
from ai_detector.pipeline.params import TrainParams

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
    records: Sequence[Record], features: np.ndarray, params: TrainParams
) -> TrainingOpinion:
    """Out of fold over the training records (``features``: the teacher's, one row per
    record), each fold's head stopped early on the validation records."""
    labels = ordered_labels({r.label for r in records})
    y = np.array([labels.index(r.label) for r in records])
    split = np.array([r.split for r in records])
    fit, stop = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    teacher_head = heads_on(features, y, len(labels), labels.index(REAL), params)
    fake = out_of_fold_scores(fit, stop, teacher_head, OOF_FOLDS, params.seed)
    return TrainingOpinion(labels, fit, y, fake)


def soft_targets(
    records: Sequence[Record], opinion: TrainingOpinion, weight: float
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


def teacher_targets(
    records: Sequence[Record], teacher: Path, params: TrainParams
) -> SoftTargets | None:
    """The fine-tune's soft targets for the training records among ``records`` (None, and
    nothing read, when ``params.teacher_weight`` is 0), from the teacher's embeddings of
    their training and validation images in the folder ``teacher`` (stage teacher); only
    these records teach the teacher."""
    if not params.teacher_weight:
        return None
    embeddings = read_embeddings(teacher)
    fitting = [r for r in records if r.split in TEACHER_SPLITS]
    missing = sum(r.sha256 not in embeddings for r in fitting)
    if missing:
        raise ValueError(
            f"the teacher's embeddings lack {missing} of {len(fitting)} training and "
            f"validation images: run the teacher stage (dvc repro teacher) on these records"
        )
    features = np.stack([embeddings[r.sha256] for r in fitting])
    opinion = training_opinion(fitting, features, params)
    log.info(
        "teacher weight %.2f: out-of-fold P(not real) of %d training images, median %.3f",
        params.teacher_weight,
        len(opinion.rows),
        float(np.median(opinion.fake)),
    )
    return soft_targets(fitting, opinion, params.teacher_weight)
