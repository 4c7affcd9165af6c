"""The seeds module's summary: the spread of a recipe's figures over its runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_detector.pipeline.seeds import spread, table
from tests.conftest import run_make


def test_the_spread_is_over_the_figures_every_run_has():
    runs = {
        42: {"faces_auc": 0.93, "quiz_auc": 0.59, "cifake_lco_acc": None, "model_version": "a+1"},
        7: {"faces_auc": 0.95, "quiz_auc": 0.62, "cifake_lco_acc": 0.9, "model_version": "a+2"},
        123: {"faces_auc": 0.94, "quiz_auc": 0.56, "model_version": "a+3"},
    }
    summary = spread(runs)
    assert list(summary) == ["faces_auc", "quiz_auc"]  # a figure missing or None in one: out
    assert summary["faces_auc"]["mean"] == pytest.approx(0.94)
    assert summary["quiz_auc"]["min"] == 0.56 and summary["quiz_auc"]["max"] == 0.62
    assert summary["quiz_auc"]["spread"] == pytest.approx(0.06)


def test_the_table_has_a_row_per_seed_then_the_mean_and_the_spread():
    runs = {42: {"faces_auc": 0.93}, 7: {"faces_auc": 0.95}}
    lines = table(runs, spread(runs)).splitlines()
    assert lines[0] == "| seed | faces_auc |"
    assert lines[2:] == [
        "| 42 | 0.930 |",
        "| 7 | 0.950 |",
        "| mean | 0.940 |",
        "| spread | 0.020 |",
    ]


ROOT = Path(__file__).resolve().parents[2]


def test_make_seeds_runs_the_module_the_readme_names():
    # -n prints the recipe without running it.
    def recipe(*extra: str) -> str:
        done = run_make("-n", "seeds", *extra)
        assert done.returncode == 0, done.stderr
        return done.stdout

    readme = (ROOT / "README.md").read_text()
    documented = "python -m ai_detector.pipeline.seeds --seeds 42 7 123 --params params.yaml"
    assert documented in readme
    assert recipe().strip() == f".venv/bin/{documented}"
    chosen = recipe("SEEDS=1 2", "PARAMS=other.yaml").strip().removeprefix(".venv/bin/")
    assert chosen == documented.replace("42 7 123", "1 2").replace("params.yaml", "other.yaml")
