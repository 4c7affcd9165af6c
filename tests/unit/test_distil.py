"""Distilling the teacher's opinion into a head (ai_detector.pipeline.distil).

Run: pytest tests/unit/test_distil.py
"""

from __future__ import annotations

import numpy as np
import pytest

from ai_detector.pipeline.distil import distilled_probe, out_of_fold_scores, with_teacher_labels
from tests.conftest import repo_params

REAL, AI, DEEPFAKE = 0, 1, 2


def test_no_row_is_scored_by_a_teacher_that_saw_it():
    rows = np.arange(10, 60)
    labels = np.random.default_rng(0).integers(0, 2, 100)

    def memorising(fit, stop):
        seen = set(fit.tolist())
        return lambda scored: np.array([labels[r] if r in seen else 0.5 for r in scored])

    scores = out_of_fold_scores(rows, np.arange(60, 70), memorising, folds=5, seed=1)
    assert scores.shape == (50,)
    assert np.all(scores == 0.5)  # a teacher that saw a row would have said its label


def test_labels_are_drawn_from_the_mixture_of_label_and_teacher():
    y = np.array([REAL, AI, DEEPFAKE, REAL])
    rows = np.arange(4)
    teacher = np.array([0.8, 0.1, 0.0, 0.0])
    fit_rows, targets = with_teacher_labels(rows, y, teacher, 0.0, (REAL, AI), 0, copies=50)
    assert np.array_equal(fit_rows, np.repeat(rows, 50))
    assert np.array_equal(targets, y[fit_rows])  # weight 0: the labels alone
    fit_rows, targets = with_teacher_labels(rows, y, teacher, 0.5, (REAL, AI), 0, copies=4000)
    share_fake = [(targets[fit_rows == r] != REAL).mean() for r in rows]
    # expected: 0.5 * label + 0.5 * teacher
    np.testing.assert_allclose(share_fake, [0.4, 0.55, 0.5, 0.0], atol=0.03)
    # a real row the teacher calls fake becomes AI-generated; a fake keeps its own kind
    assert set(targets[fit_rows == 0]) == {REAL, AI}
    assert set(targets[fit_rows == 2]) == {REAL, DEEPFAKE}
    with pytest.raises(ValueError, match="weight must be in"):
        with_teacher_labels(rows, y, teacher, 1.5, (REAL, AI), 0)


def _rank_corr(x: np.ndarray, z: np.ndarray) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(x)), np.argsort(np.argsort(z)))[0, 1])


def test_the_student_learns_the_teachers_opinion_not_only_the_labels():
    """Labels follow a + b; the teacher sees only a. Taught by it alone (weight 1), the
    student's head leans on a as the teacher does; taught by the labels, on a + b."""
    rng = np.random.default_rng(3)
    n = 600
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + b > 0).astype(int)
    student = np.stack([a, b], axis=1).astype(np.float32)
    teacher = np.stack([a, rng.normal(size=n)], axis=1).astype(np.float32)
    fit, stop, test = np.arange(400), np.arange(400, 450), np.arange(450, n)
    params = repo_params("train", epochs=40, batch_size=32, lr=0.05)
    plain = distilled_probe(student, teacher, y, fit, stop, 0.0, (2, 0, 1), params)
    taught = distilled_probe(student, teacher, y, fit, stop, 1.0, (2, 0, 1), params)
    plain_scores = plain.fake_score(student[test])
    taught_scores = taught.fake_score(student[test])
    assert _rank_corr(plain_scores, a[test] + b[test]) > 0.95
    assert _rank_corr(taught_scores, a[test]) > _rank_corr(plain_scores, a[test]) + 0.1
