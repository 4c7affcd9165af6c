"""Provenance through a real TorchServe: `curl -T signed.jpg .../predictions/ai-detector`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
from harness.signing import c2pa_sign, make_signing_chain

from tests.provenance_files import plain, png_with_text

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def curl_upload(path: Path, url: str) -> dict:
    result = subprocess.run(
        ["curl", "-sS", "-T", str(path), url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_curl_shows_the_content_credentials_of_a_signed_jpeg(tiny_server, tmp_path):
    photo = plain(size=(320, 240))
    signed = tmp_path / "signed.jpg"
    signed.write_bytes(c2pa_sign(photo, "image/jpeg", make_signing_chain()))
    answer = curl_upload(signed, tiny_server.predict_url)
    provenance = answer["provenance"]
    assert provenance["source"] == "c2pa"
    assert provenance["claims"] == "ai-generated"
    assert provenance["generator"] == "Test Diffusion 2"
    assert provenance["signed"] is True and provenance["valid"] is True
    assert provenance["details"]["trust"] == "untrusted"
    # The model's verdict is its own: the same pixels without a manifest get the same one.
    bare = tmp_path / "bare.jpg"
    bare.write_bytes(photo)
    without = curl_upload(bare, tiny_server.predict_url)
    assert without["provenance"]["source"] == "none"
    assert (without["label"], without["probabilities"]) == (
        answer["label"],
        answer["probabilities"],
    )


def test_a_batch_keeps_each_file_its_own_provenance(tiny_server):
    from concurrent.futures import ThreadPoolExecutor

    settings = png_with_text({"parameters": "a cat\nSteps: 20, Sampler: Euler"})
    bodies = [settings, plain(), b"not an image", settings, plain()]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(
            pool.map(
                lambda body: requests.post(tiny_server.predict_url, data=body, timeout=60), bodies
            )
        )
    sources = [r.json().get("provenance", {}).get("source") for r in responses]
    assert sources == ["generator-metadata", "none", None, "generator-metadata", "none"]
    assert responses[2].status_code == 415
