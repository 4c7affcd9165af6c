"""What ships: the parity gate keeps out a candidate that fails it, and the speed rule
picks the same candidate however the timing noise falls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ai_detector.inference.metadata import Candidate, ModelMetadata
from ai_detector.pipeline.promote import Images, passes, search, timing_candidates
from ai_detector.pipeline.speed import Speed, candidate_costs, choose, kind
from tests.conftest import TINY_INPUT, repo_params
from tests.unit.test_quantize import _images, _small_convnet

GATE = repo_params("export", min_agreement=0.99, max_f1_drop=0.005)
TIE_BREAK = ("fp32", "int8", "cascade")
FP32 = Candidate("fp32", "fp32.onnx")
INT8 = Candidate("int8-MinMax/float1", "int8.onnx")
CASCADE = Candidate("int8-MinMax/float1+fp32", "int8.onnx", "fp32.onnx", 0.5, 0.25)


def parity(agreement: float, f1_drop: float) -> dict[str, float]:
    return {"agreement": agreement, "macro_f1_fp32": 0.75, "macro_f1": 0.75 - f1_drop}


@pytest.mark.parametrize(
    ("agreement", "f1_drop", "expected"),
    [(1.0, 0.0, True), (0.99, 0.004, True), (0.989, 0.0, False), (1.0, 0.006, False)],
)
def test_the_gate_needs_both_agreement_and_f1(agreement, f1_drop, expected):
    assert passes(parity(agreement, f1_drop), GATE) is expected


def test_a_form_that_fails_the_gate_is_not_a_candidate_to_ship():
    cascade = {**parity(1.0, 0.0), "margin": 0.5, "fallback_fraction": 0.25}
    report = {"int8": {"MinMax/float1": {**parity(0.95, 0.0), "cascade": cascade}}}
    files = {"MinMax/float1": "int8.onnx"}
    shippable = timing_candidates("fp32.onnx", report, files, GATE)
    assert shippable == [FP32, CASCADE]
    timed = [c.name for c in timing_candidates("fp32.onnx", report, files, None)]
    assert timed == ["fp32", INT8.name, CASCADE.name]


ROUNDS = 96


def steady(ms: float) -> Speed:
    """Every round alike but for a 2% wobble, the same in every candidate's rounds."""
    wobble = 1 + 0.02 * np.sin(np.arange(ROUNDS))
    return Speed(tuple(ms * wobble), 8000 / ms)


def alternating(first: float, second: float) -> Speed:
    return Speed((first, second) * (ROUNDS // 2), 8000 / first)


def test_a_cascade_costs_its_int8_model_plus_its_share_of_fp32_in_every_round():
    costs = candidate_costs([FP32, INT8, CASCADE], {"fp32.onnx": [8.0, 10.0], "int8.onnx": [4, 5]})
    assert costs == {FP32.name: [8.0, 10.0], INT8.name: [4, 5], CASCADE.name: [6.0, 7.5]}


def test_the_clearly_fastest_ships():
    speeds = {FP32.name: steady(10.0), INT8.name: steady(4.0), CASCADE.name: steady(6.0)}
    assert choose([FP32, INT8, CASCADE], speeds, TIE_BREAK, 1.1) is INT8


@pytest.mark.parametrize(
    ("tie_break", "expected"),
    [(("fp32", "int8", "cascade"), FP32), (("cascade", "int8", "fp32"), CASCADE)],
)
def test_within_the_spread_the_tie_break_decides(tie_break, expected):
    # Each is the faster in half of the rounds: either could come out ahead another time.
    speeds = {FP32.name: alternating(5.0, 6.0), CASCADE.name: alternating(6.0, 5.0)}
    assert choose([FP32, CASCADE], speeds, tie_break, 1.0) is expected


def test_two_int8_forms_within_the_spread_ship_the_same_whichever_timed_faster():
    speeds = {
        FP32.name: steady(20.0),
        INT8.name: alternating(5.0, 5.5),
        CASCADE.name: alternating(5.5, 5.0),
    }
    assert choose([FP32, INT8, CASCADE], speeds, ("cascade", "int8", "fp32"), 1.1) is CASCADE
    assert choose([FP32, INT8, CASCADE], speeds, ("int8", "cascade", "fp32"), 1.1) is INT8


def test_a_busy_machine_does_not_change_the_choice():
    """The machine's speed swings 3x from round to round (other jobs), as the export
    stage's machine does; a candidate that costs 0.7x of fp32 in every round ships in
    every run, though its slow rounds are slower than fp32's fast ones."""
    chosen = set()
    for seed in range(20):
        rng = np.random.default_rng(seed)
        load = rng.uniform(1.0, 3.0, ROUNDS)
        jitter = rng.normal(1.0, 0.03, (2, ROUNDS))
        speeds = {
            FP32.name: Speed(tuple(10.0 * load * jitter[0]), 100.0),
            CASCADE.name: Speed(tuple(7.0 * load * jitter[1]), 140.0),
        }
        chosen.add(choose([FP32, CASCADE], speeds, TIE_BREAK, 1.1).name)
    assert chosen == {CASCADE.name}


def test_int8_must_beat_fp32_by_the_speedup_as_at_load():
    speeds = {FP32.name: steady(10.0), INT8.name: steady(9.5)}  # apart, but not 1.1x
    assert choose([FP32, INT8], speeds, TIE_BREAK, 1.1) is FP32
    assert choose([FP32, INT8], speeds, TIE_BREAK, 1.0) is INT8


def test_the_spread_comes_from_the_rounds():
    measured = Speed((4.0, 5.0, 6.0, 7.0, 100.0), 200.0)
    figures = measured.report()
    assert (figures["batch1_ms_p25"], figures["batch1_ms"], figures["batch1_ms_p75"]) == (5, 6, 7)
    assert figures["rounds"] == 5 and figures["batch8_img_per_s"] == 200.0
    half = Speed((2.0, 2.5, 3.0, 3.5, 50.0), 400.0)
    assert measured.times(half) == (2.0, 2.0, 2.0)
    assert [kind(c) for c in (FP32, INT8, CASCADE)] == ["fp32", "int8", "cascade"]


@pytest.fixture(scope="module")
def fp32_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("promote") / "fp32"
    model_dir.mkdir()
    _small_convnet(model_dir / "model.onnx")
    ModelMetadata(
        labels=("Real", "AI-generated", "Deepfake"),
        version="t",
        **{**TINY_INPUT, "input_size": 32, "resize_size": 32},
    ).save(model_dir)
    return model_dir


def images() -> Images:
    val = _images(1, 48)
    return Images(val, np.arange(48) % 3, _images(2, 32), _images(3, 16), _images(4, 32))


def test_search_ships_fp32_alone_when_no_int8_form_passes(fp32_dir, tmp_path):
    params = repo_params(
        "export", calibration_methods=("MinMax",), min_agreement=1.01, float_convs=(1,)
    )
    report, shipped = search(params, fp32_dir, images(), tmp_path)
    assert shipped == fp32_dir and report["promoted"] == "fp32"
    form = report["int8"]["MinMax/float1"]
    assert not passes(form, params) and not passes(form["cascade"], params)
    assert form["latency"]["batch1_ms_p25"] <= form["latency"]["batch1_ms"]


def test_search_ships_every_form_with_its_gate_result_and_a_passing_default(fp32_dir, tmp_path):
    params = repo_params(
        "export",
        calibration_methods=("MinMax",),
        min_agreement=0.0,
        max_f1_drop=1.0,
        float_convs=(1,),
    )
    report, shipped = search(params, fp32_dir, images(), tmp_path)
    metadata = ModelMetadata.load(shipped)
    names = [c.name for c in metadata.candidates]
    assert names == ["fp32", INT8.name, CASCADE.name] == report["shipped_candidates"]
    assert metadata.precision == report["promoted"] in names
    assert all(c.passed for c in metadata.candidates)
    cascade = report["int8"]["MinMax/float1"]["cascade"]["latency"]["batch1_ms"]
    assert cascade >= report["int8"]["MinMax/float1"]["latency"]["batch1_ms"]
    assert report["choice"]["tie_break"] == list(params.tie_break)
