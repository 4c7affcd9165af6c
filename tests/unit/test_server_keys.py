"""read_keys while TorchServe writes its key file: CI once read it empty and every
token-auth test errored at setup. Run: pytest tests/unit/test_server_keys.py"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ai_detector.serving.torchserve import KEY_FILE, Server, read_keys

KEYS = {"inference": {"key": "abc"}, "management": {"key": "xyz"}, "API": {"key": "other"}}


def test_no_key_file_means_token_auth_is_off(tmp_path: Path) -> None:
    assert read_keys(tmp_path) == {}


@pytest.mark.parametrize("partial", ["", "{", json.dumps(KEYS)[:20]])
def test_a_key_file_being_written_reads_as_no_keys_yet(tmp_path: Path, partial: str) -> None:
    (tmp_path / KEY_FILE).write_text(partial)
    assert read_keys(tmp_path) == {}
    server = Server("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9", "m", tmp_path)
    # The start loop's readiness poll must say "not yet", not raise.
    assert server.model_ready() is False


def test_a_whole_key_file_gives_the_two_keys(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text(json.dumps(KEYS))
    assert read_keys(tmp_path) == {"inference": "abc", "management": "xyz"}
    assert Server("", "", "", "m", tmp_path).key("management") == "xyz"
