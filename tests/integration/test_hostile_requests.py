"""Hostile and careless requests against a real TorchServe: batch isolation, the
README's curl lines run verbatim, and the error type of each bad request."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import encode_image, textured_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_URL = "http://127.0.0.1:8080/predictions/ai-detector"
NESTED_JSON = b'{"a":' + b"[" * 3000 + b"]" * 3000 + b"}"


def readme_request_lines() -> list[str]:
    """The shell lines of the README's first bash block after "## The REST API"."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The REST API") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the README's REST API section lost its curl examples"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_documents_every_request_form():
    lines = " ".join(readme_request_lines())
    for form in ("-T photo.jpg", "--data-binary @photo.jpg", "-F data=@photo.jpg", "-d @"):
        assert form in lines


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_every_documented_curl_line_works_verbatim(tiny_server, tmp_path):
    """Each README line, run by bash with only the address changed to the test server's."""
    (tmp_path / "photo.jpg").write_bytes(encode_image(textured_image(), "JPEG"))
    for line in readme_request_lines():
        command = line.replace(DOCUMENTED_URL, tiny_server.predict_url)
        result = subprocess.run(
            ["bash", "-c", command + (" -sS -w '\\n%{http_code}'" if "curl" in line else "")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (line, result.stderr)
        if "curl" in line:
            body, _, status = result.stdout.rpartition("\n")
            assert status == "200", (line, body)
            assert '"model_version": "tiny-test-1"' in body, (line, body)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_data_binary_without_a_content_type_gets_a_415_that_says_what_to_send(
    tiny_server, tmp_path
):
    # Bytes the form decoder accepts (no '%', '&', '+', CR, LF): it mangles them silently.
    image = bytes(range(0x20, 0x7F)).replace(b"%", b"").replace(b"&", b"").replace(b"+", b"")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + image * 20)
    command = f"curl -sS -X POST {tiny_server.predict_url} --data-binary @photo.jpg"
    result = subprocess.run(
        [*shlex.split(command), "-w", "\n%{http_code}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = result.stdout.rpartition("\n")
    assert status == "415", body
    assert "unsupported_media_type" in body
    assert "Content-Type: application/octet-stream" in body


@pytest.mark.parametrize(
    ("headers", "payload", "status", "kind"),
    [
        ({"Content-Type": "application/json"}, NESTED_JSON, 400, "bad_input"),
        ({"Content-Type": "application/json"}, b"{broken", 400, "bad_input"),
        ({}, b"just some text", 415, "not_an_image"),
    ],
    ids=["nested-json", "malformed-json", "text"],
)
def test_bad_bodies_get_their_own_error_type(tiny_server, headers, payload, status, kind):
    response = requests.post(tiny_server.predict_url, data=payload, headers=headers, timeout=30)
    assert (response.status_code, response.json()["type"]) == (status, kind)


def test_a_text_file_upload_is_not_an_image(tiny_server):
    files = {"data": ("notes.txt", b"hello, a text file\n", "text/plain")}
    response = requests.post(tiny_server.predict_url, files=files, timeout=30)
    assert (response.status_code, response.json()["type"]) == (415, "not_an_image")


def test_nested_json_never_fails_its_batch_neighbours(tiny_server, make_image):
    """Before: the RecursionError failed the whole batch with a 503 (25 of 140
    neighbours failed). Now the nested body gets its 400 and every image its verdict."""
    good = [(make_image(seed=i, tint="red"), {}) for i in range(48)]
    bad = [(NESTED_JSON, {"Content-Type": "application/json"})] * 16
    mixed = [item for pair in zip(good[::3], bad, strict=True) for item in pair] + good

    def post(item: tuple[bytes, dict[str, str]]) -> int:
        data, headers = item
        return requests.post(tiny_server.predict_url, data=data, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, mixed))
    for (data, _), response in zip(mixed, responses, strict=True):
        if data is NESTED_JSON:
            assert response.status_code == 400, response.text
        else:
            assert response.status_code == 200, response.text
            assert response.json()["label"] == "AI-generated"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "http://127.0.0.1:9/evil.mar", "ai-detector.mar"]
)
def test_no_model_can_be_registered_through_the_management_api(tiny_server, url):
    """The model API is off and allowed_urls matches nothing: registering a model from a
    file, a URL or the store is refused, nothing is copied, and the served model stays."""
    answer = requests.post(f"{tiny_server.management_url}/models", params={"url": url}, timeout=30)
    assert answer.status_code >= 400, answer.text
    listed = requests.get(f"{tiny_server.management_url}/models", timeout=30).json()
    assert [model["modelName"] for model in listed["models"]] == [tiny_server.model_name]
    store = tiny_server.log_dir.parent / "store"
    assert sorted(path.name for path in store.iterdir()) == [f"{tiny_server.model_name}.mar"]
    ok = requests.post(tiny_server.predict_url, data=encode_image(textured_image()), timeout=30)
    assert ok.status_code == 200
