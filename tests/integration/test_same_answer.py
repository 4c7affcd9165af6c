"""One deployment, one answer: every worker of a service gives the same bytes for the same image.

The model directory ships two candidates whose outputs differ (the "int8" file is a
drifted copy), so a worker that ran the other candidate would show at once. Until the
choice was made by timing at load, two workers loading side by side on one host picked
differently, and the same photo alternated between two answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from ai_detector.inference.metadata import Candidate
from ai_detector.serving.torchserve import Server
from tests.conftest import write_tiny_onnx_model
from tests.integration.conftest import serve_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POSTS = 50
CANDIDATES = (Candidate("fp32", "model_fp32.onnx"), Candidate("int8", "model.onnx"))


@pytest.fixture(scope="module")
def two_candidate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("same-answer")
    model = work / "model"
    write_tiny_onnx_model(model, file="model_fp32.onnx")
    metadata = write_tiny_onnx_model(model, real_bias_shift=0.7)  # differs in every answer
    metadata.replace(candidates=CANDIDATES, precision="int8").save(model)
    yield from serve_model(model, work)


def test_fifty_posts_to_two_workers_give_byte_identical_answers(two_candidate_server, make_image):
    server = two_candidate_server
    workers = requests.get(f"{server.management_url}/models/ai-detector", timeout=10).json()
    assert len(workers[0]["workers"]) == 2  # model-config.yaml's two workers, both serving
    image = make_image(tint="red", seed=3)

    def post(_: int) -> bytes:
        answer = requests.post(server.predict_url, data=image, timeout=30, headers=OCTETS)
        assert answer.status_code == 200, answer.text
        return answer.content

    # Four at a time, so both workers answer and batches of different sizes form.
    with ThreadPoolExecutor(4) as pool:
        bodies = set(pool.map(post, range(POSTS)))
    assert len(bodies) == 1, bodies


OCTETS = {"Content-Type": "application/octet-stream"}


def test_each_worker_logs_the_same_precision_once_with_its_reason(two_candidate_server):
    log = (Path(two_candidate_server.log_dir) / "model_log.log").read_text()
    chosen = re.findall(r"precision (\S+): (this CPU's int8 kernels [^;\n]+)", log)
    assert len(chosen) == 2, chosen  # one line per worker process, and no more
    assert len(set(chosen)) == 1
    expected = "int8" if "sum exactly" in chosen[0][1] else "fp32"
    assert chosen[0][0] == expected
