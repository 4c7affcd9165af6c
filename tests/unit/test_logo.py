"""Which records a leave-one-generator-out fold trains on and is scored on (no training here;
tests/integration/test_logo.py runs a whole fold)."""

from __future__ import annotations

import numpy as np
import pytest

from ai_detector.pipeline.data.records import Record
from ai_detector.pipeline.logo import auc_by_origin, make_fold

SPLITS = ("train", "train", "val", "test")


def _records(origin: str, label: str) -> list[Record]:
    return [
        Record(
            f"/x/{origin}-{label}-{i}.jpg", label, "src", f"{origin}{label}{i}", split, "", origin
        )
        for i, split in enumerate(SPLITS)
    ]


RECORDS = [
    *_records("photos", "Real"),
    *_records("sd", "AI-generated"),
    *_records("gan", "AI-generated"),
    *_records("mixed", "Real"),
    *_records("mixed", "AI-generated"),
]


def test_a_fakes_only_origin_is_scored_against_the_other_origins_test_reals():
    fold = make_fold(RECORDS, ["gan"])
    assert fold.held == [r for r in RECORDS if r.origin == "gan"]  # every split of it
    assert all(r.origin != "gan" for r in fold.kept)
    assert len(fold.kept) == len(RECORDS) - 4
    assert {(r.origin, r.label, r.split) for r in fold.against} == {
        ("photos", "Real", "test"),
        ("mixed", "Real", "test"),
    }
    assert fold.against_name == "test reals of the other origins"


def test_origins_held_out_together():
    fold = make_fold(RECORDS, ["gan", "sd"])
    assert {r.origin for r in fold.held} == {"gan", "sd"}
    assert {r.origin for r in fold.kept} == {"photos", "mixed"}


def test_an_origin_with_both_classes_is_scored_on_itself_alone():
    fold = make_fold(RECORDS, ["mixed"])
    assert len(fold.held) == 8 and fold.against == []
    assert fold.against_name == "itself (both classes)"


def test_a_reals_only_origin_is_scored_against_the_other_origins_test_fakes():
    fold = make_fold(RECORDS, ["photos"])
    assert {(r.origin, r.split) for r in fold.against} == {
        ("sd", "test"),
        ("gan", "test"),
        ("mixed", "test"),
    }
    assert all(r.label != "Real" for r in fold.against)


def test_an_unknown_origin_is_named_with_the_origins_that_exist():
    with pytest.raises(ValueError) as error:
        make_fold(RECORDS, ["gan", "flux-lora-faces"])
    message = str(error.value)
    assert "['flux-lora-faces']" in message
    assert "['gan', 'mixed', 'photos', 'sd']" in message


def test_a_fold_that_leaves_training_without_a_class_is_refused():
    with pytest.raises(ValueError, match="lacks reals or fakes"):
        make_fold(RECORDS, ["photos", "mixed"])


def test_the_held_out_scores_are_ranked_against_each_origin_alone():
    fold = make_fold(RECORDS, ["gan"])
    against = [*fold.against, *_records("faces", "Real")[-1:]]  # a second origin's test real
    by_origin = auc_by_origin(
        np.ones(4, bool), np.array([0.6, 0.6, 0.6, 0.6]), against, np.array([0.1, 0.1, 0.9])
    )
    # Above every photo, below the one real face: a content bias, not a blind spot for all.
    assert by_origin == {"faces": 0.0, "mixed": 1.0, "photos": 1.0}
