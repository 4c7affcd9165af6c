"""Distillation of the CLIP teacher into the CNN's head, for the recipe experiments.

    from ai_detector.pipeline.distil import distilled_probe

A student learns from a teacher what the labels alone do not say: which fakes look real
and which photos look made. For that the teacher's opinion of a training image must not
come from a head fitted on that image (it would just repeat the label), so
``out_of_fold_scores`` gives each training row the P(not real) of a teacher head fitted
on the other folds. ``with_teacher_labels`` then trains the student towards the soft
target ``(1 - weight) * label + weight * teacher``, as labels drawn from it for a few
copies of each row: the fitting code (``fit_probe``, hard labels, rows may repeat) is the
one every other recipe uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ai_detector.pipeline.generalise_folds import LinearProbe, fit_probe
from ai_detector.pipeline.params import TrainParams

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
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the teacher's weight must be in [0, 1], got {weight}")
    real, fake = labels
    rng = np.random.default_rng(seed)
    rows = np.repeat(rows, copies)
    own = y[rows]
    teacher_says_fake = rng.random(len(rows)) < np.repeat(teacher_fake, copies)
    teachers = np.where(teacher_says_fake, np.where(own != real, own, fake), real)
    return rows, np.where(rng.random(len(rows)) < weight, teachers, own)


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

    def teacher_head(rows: np.ndarray, stop_rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        probe = fit_probe(teacher, y, rows, stop_rows, n_labels, real, params)
        return lambda scored: probe.fake_score(teacher[scored])

    opinion = out_of_fold_scores(unique, stop, teacher_head, OOF_FOLDS, params.seed)
    rows, targets = with_teacher_labels(
        fit, y, opinion[np.searchsorted(unique, fit)], weight, (real, fake), params.seed
    )
    x = np.concatenate([student[rows], student[stop]])
    t = np.concatenate([targets, y[stop]])
    own = np.arange(len(rows))
    return fit_probe(x, t, own, np.arange(len(rows), len(x)), n_labels, real, params)
