"""Provenance read from files the tests make: C2PA-signed, IPTC, generator settings, camera."""

from __future__ import annotations

import json
import zlib

import pytest
from harness.signing import SIGNER_ORG, c2pa_sign, make_signing_chain

from ai_detector.inference.provenance import read_provenance
from ai_detector.inference.provenance.containers import MAX_BLOCK
from ai_detector.inference.provenance.content_credentials import TRUST_ANCHORS_ENV
from tests.provenance_files import (
    camera_exif,
    insert_jpeg_segment,
    insert_png_chunk,
    iptc_xmp,
    plain,
    png_chunk,
    png_with_text,
)

A1111 = (
    "a lighthouse at dusk\nNegative prompt: blurry\nSteps: 25, Sampler: DPM++ 2M, "
    "CFG scale: 7, Seed: 42, Size: 512x512, Model: sd_xl_base_1.0, Version: v1.9.4"
)
COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev.fp8"}},
}


@pytest.fixture(scope="module")
def chain():
    return make_signing_chain()


@pytest.fixture(scope="module")
def signed_jpeg(chain) -> bytes:
    return c2pa_sign(plain("JPEG"), "image/jpeg", chain)


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def test_c2pa_signed_jpeg_states_ai_generation_signed_valid_untrusted(signed_jpeg):
    found = read_provenance(signed_jpeg).to_dict()
    assert found["source"] == "c2pa"
    assert found["claims"] == "ai-generated"
    assert found["generator"] == "Test Diffusion 2"
    assert found["signed"] is True and found["valid"] is True
    details = found["details"]
    assert details["signer"] == SIGNER_ORG
    assert details["claim_generator"] == "ai-detector tests 1.0"
    assert details["actions"] == [
        {"action": "c2pa.created", "digital_source_type": "trainedAlgorithmicMedia"}
    ]
    assert details["trust"] == "untrusted" and details["trust_list"] is None
    assert details["failures"] == ["signingCredential.untrusted"]
    json.dumps(found)  # the REST answer carries it as is


def test_c2pa_signed_png_from_a_camera(chain):
    signed = c2pa_sign(plain("PNG"), "image/png", chain, "digitalCapture", agent="Test Cam")
    found = read_provenance(signed)
    assert (found.source, found.claims, found.generator) == ("c2pa", "camera", "Test Cam")
    assert found.signed and found.valid


def test_ai_edit_of_a_photo_is_ai_edited(chain):
    signed = c2pa_sign(
        plain("PNG"), "image/png", chain, "digitalCapture", edited_with="trainedAlgorithmicMedia"
    )
    found = read_provenance(signed)
    assert (found.claims, found.generator) == ("ai-edited", "Test Fill")
    assert [action["action"] for action in found.details["actions"]] == [
        "c2pa.created",
        "c2pa.edited",
    ]


def test_trust_anchor_makes_the_signature_trusted(signed_jpeg, chain, tmp_path, monkeypatch):
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(chain.ca_pem)
    monkeypatch.setenv(TRUST_ANCHORS_ENV, str(anchors))
    details = read_provenance(signed_jpeg).details
    assert details["trust"] == "trusted" and details["trust_list"] == "anchors.pem"
    assert details["failures"] == []


def test_unreadable_trust_anchors_are_named_not_raised(signed_jpeg, tmp_path, monkeypatch):
    monkeypatch.setenv(TRUST_ANCHORS_ENV, str(tmp_path / "missing.pem"))
    found = read_provenance(signed_jpeg)
    assert found.source == "c2pa" and found.valid is None
    assert "missing.pem" in found.details["error"]


def test_editing_the_pixels_breaks_the_signature(signed_jpeg):
    tampered = flip(signed_jpeg, len(signed_jpeg) - 300)  # inside the entropy-coded scan
    found = read_provenance(tampered)
    assert found.source == "c2pa" and found.signed is True
    assert found.valid is False
    assert "assertion.dataHash.mismatch" in found.details["error"]
    assert found.claims == "ai-generated"  # what it states stays visible, flagged invalid


def test_malformed_manifest_bytes_are_invalid_never_raised(signed_jpeg):
    start = signed_jpeg.find(b"jumb")
    end = signed_jpeg.rfind(b"c2pa.signature") + 200
    outcomes = set()
    for at in range(start + 8, end, max(1, (end - start) // 40)):
        found = read_provenance(flip(signed_jpeg, at))
        assert found.source == "c2pa"
        if not found.valid:
            assert found.details["error"]  # the reason, from the library or its checks
        outcomes.add(found.valid)
    assert False in outcomes


def test_iptc_trained_algorithmic_media_in_jpeg_xmp():
    data = plain("JPEG", xmp=iptc_xmp("trainedAlgorithmicMedia").encode())
    found = read_provenance(data).to_dict()
    assert found == {
        "source": "iptc",
        "claims": "ai-generated",
        "generator": "Test Painter 3",
        "signed": False,
        "valid": None,
        "details": {"digital_source_type": "trainedAlgorithmicMedia"},
    }


@pytest.mark.parametrize(
    ("fmt", "code", "claim"),
    [
        ("WEBP", "compositeWithTrainedAlgorithmicMedia", "ai-edited"),
        ("PNG", "digitalCapture", "camera"),
        ("JPEG", "digitalCreation", None),
    ],
)
def test_iptc_source_types_in_other_formats(fmt, code, claim):
    xmp = iptc_xmp(code)
    options = {"xmp": xmp.encode()} if fmt != "PNG" else {}
    data = plain(fmt, **options) if fmt != "PNG" else png_with_text({"XML:com.adobe.xmp": xmp})
    found = read_provenance(data)
    assert (found.source, found.claims) == ("iptc", claim)
    assert found.details["digital_source_type"] == code


def test_automatic1111_png_parameters():
    found = read_provenance(png_with_text({"parameters": A1111}))
    assert (found.source, found.claims) == ("generator-metadata", "ai-generated")
    assert found.generator == "Stable Diffusion web UI (Automatic1111)"
    assert found.details == {"found_in": "png:parameters", "model": "sd_xl_base_1.0"}
    assert (found.signed, found.valid) == (False, None)


def test_comfyui_png_prompt_and_workflow_compressed():
    chunks = {"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps({"nodes": []})}
    found = read_provenance(png_with_text(chunks, compressed=True))
    assert (found.source, found.generator) == ("generator-metadata", "ComfyUI")
    assert found.details == {"found_in": "png:prompt, png:workflow", "model": "flux1-dev.fp8"}


def test_a_prompt_chunk_that_is_not_a_comfyui_graph_is_no_claim():
    found = read_provenance(png_with_text({"prompt": "a cat", "parameters": "no steps here"}))
    assert found.source == "none"


def test_automatic1111_jpeg_user_comment_and_generator_software():
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + A1111.encode("utf-16-be")
    found = read_provenance(plain("JPEG", exif=exif.tobytes()))
    assert (found.source, found.details["found_in"]) == ("generator-metadata", "exif:UserComment")
    exif = Image.Exif()
    exif[0x0131] = "NovelAI Diffusion V3"
    found = read_provenance(plain("JPEG", exif=exif.tobytes()))
    assert (found.generator, found.details["found_in"]) == ("NovelAI Diffusion V3", "exif:Software")


def test_camera_exif_is_shown_but_claims_nothing():
    found = read_provenance(plain("JPEG", exif=camera_exif())).to_dict()
    assert found == {
        "source": "none",
        "claims": None,
        "generator": None,
        "signed": False,
        "valid": None,
        "details": {"camera": "Canon EOS R5"},
    }


def test_strongest_source_wins_and_the_others_are_listed(chain):
    data = png_with_text({"parameters": A1111, "XML:com.adobe.xmp": iptc_xmp("digitalCapture")})
    found = read_provenance(c2pa_sign(data, "image/png", chain))
    assert found.source == "c2pa"
    assert found.details["also"] == [
        {"source": "iptc", "claims": "camera"},
        {"source": "generator-metadata", "claims": "ai-generated"},
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00garbage" * 100,
        b"\xff\xd8",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"RIFF\xff\xff\xff\xffWEBPVP8X\xff\xff\xff\xff",
        b"II*\x00\xff\xff\xff\xff",
        b"c2pa" * 50,
        b"<x:xmpmeta DigitalSourceType='x" * 20,
    ],
)
def test_garbage_is_no_provenance_and_no_error(data):
    found = read_provenance(data)
    assert found.source == "none" and found.claims is None


def test_oversized_and_malformed_segments_are_reported_not_read():
    png = plain("PNG")
    huge = png_chunk(b"tEXt", b"parameters\x00" + A1111.encode() + b" " * MAX_BLOCK)
    bomb = png_chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"Steps: 1, " * 2_000_000))
    past_end = png_chunk(b"tEXt", b"parameters\x00x")[:-6]
    cases = {
        "over 1 MiB: not read": insert_png_chunk(png, huge),
        "inflates to more than": insert_png_chunk(png, bomb),
        "runs past the end": png[:8] + png[8:33] + past_end,
        "past the end of the file": insert_jpeg_segment(plain(), b"\xff\xe1\xff\xf0Exif\x00\x00"),
    }
    for reason, data in cases.items():
        found = read_provenance(data)
        assert found.source == "none", reason
        assert any(reason in problem for problem in found.details["problems"]), found.details


def test_broken_exif_block_is_a_problem_not_an_error():
    found = read_provenance(
        insert_jpeg_segment(plain(), b"\xff\xe1\x00\x0eExif\x00\x00MM\x00*\xff")
    )
    assert found.source == "none"
    assert any(problem.startswith("exif:") for problem in found.details["problems"])


def test_a_failing_reader_becomes_a_problem(monkeypatch):
    from ai_detector.inference.provenance import reader

    def explode(data: bytes) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(reader, "find_metadata", explode)
    found = read_provenance(plain())
    assert found.source == "none"
    assert found.details["problems"] == ["provenance not read: RuntimeError('bug')"]
