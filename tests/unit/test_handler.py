"""The TorchServe handler with a fake context: thin, per-request statuses, JSON bodies."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HANDLER = Path(__file__).resolve().parents[2] / "src" / "ai_detector" / "serving" / "handler.py"


class FakeContext:
    """What TorchServe's Context offers a handler, recording the calls."""

    def __init__(self, model_dir: Path, headers: list[dict[str, str]] | None = None) -> None:
        self.headers = headers or []
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": None}
        self.manifest = {"model": {"modelName": "ai-detector"}}
        self.statuses: dict[int, tuple[int, str]] = {}
        self.content_types: dict[int, str] = {}

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.statuses[idx] = (code, phrase)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_types[idx] = value

    def get_request_header(self, idx: int, key: str) -> str | None:
        return None  # no describe requests here; the integration test sends a real one

    def get_all_request_header(self, idx: int) -> dict[str, object]:
        return self.headers[idx] if idx < len(self.headers) else {}


@pytest.fixture
def handler_class():
    pytest.importorskip("ts")
    spec = importlib.util.spec_from_file_location("ai_detector_handler", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.AIDetectorHandler


def test_handler_answers_a_mixed_batch(handler_class, tiny_model_dir, make_image):
    context = FakeContext(tiny_model_dir)
    handler = handler_class()
    handler.initialize(context)
    bodies = handler.handle(
        [
            {"body": make_image(tint="blue")},
            {"body": b"\x89PNG\r\n\x1a\n broken"},
            {"data": make_image("PNG")},
        ],
        context,
    )
    assert bodies[0]["label"] == "Deepfake"
    assert bodies[2]["label"] == "Real"
    assert bodies[1]["type"] == "corrupt_image" or bodies[1]["type"] == "not_an_image"
    assert context.statuses == {1: (bodies[1]["code"], bodies[1]["type"])}
    assert set(context.content_types.values()) == {"application/json"}


def test_handler_uses_one_thread_by_default(handler_class, tiny_model_dir, monkeypatch):
    monkeypatch.delenv("AI_DETECTOR_THREADS", raising=False)
    handler = handler_class()
    handler.initialize(FakeContext(tiny_model_dir))
    assert handler.predictor.session.get_session_options().intra_op_num_threads == 1


def test_handler_reads_each_request_content_type(handler_class, tiny_model_dir, make_image):
    """A form-encoded body (curl -d) is told apart by its own request's header."""
    headers = [
        {"Content-Type": "application/octet-stream", "body": {"content-type": ""}},
        {"content-type": "application/x-www-form-urlencoded"},
    ]
    context = FakeContext(tiny_model_dir, headers)
    handler = handler_class()
    handler.initialize(context)
    image = make_image(tint="blue")
    bodies = handler.handle([{"body": image}, {"\ufffd\ufffdJFIF": bytearray(b"x")}], context)
    assert bodies[0]["label"] == "Deepfake"
    assert bodies[1]["type"] == "unsupported_media_type"
    assert context.statuses == {1: (415, "unsupported_media_type")}
