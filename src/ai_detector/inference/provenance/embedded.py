"""Unsigned provenance: IPTC DigitalSourceType in XMP and the settings generators write.

    iptc_provenance(found)       # XMP Iptc4xmpExt:DigitalSourceType
    generator_provenance(found)  # PNG text chunks, EXIF Software/UserComment, XMP CreatorTool
    camera_name(found)           # EXIF Make + Model, shown but never called a claim

``found`` is :class:`~ai_detector.inference.provenance.containers.Metadata`. Each function
returns None when the file says nothing of its kind. All of this is unsigned and
trivially added or removed, which the answer states by ``signed: false``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from PIL import Image

from ai_detector.inference.provenance.containers import Metadata
from ai_detector.inference.provenance.result import (
    AI_GENERATED,
    Provenance,
    claim_for,
    source_type_code,
)

_SOURCE_TYPE = re.compile(
    r"DigitalSourceType(?:\s+rdf:resource)?\s*(?:=\s*[\"']|>)\s*(?:[^\"'<>]*/)?([A-Za-z]+)\s*[\"'<]"
)
# Names of image generators as tools write them into Software / CreatorTool fields.
_GENERATOR_NAME = re.compile(
    r"\b(stable[ -]?diffusion|automatic1111|comfyui|novelai|midjourney|dall[-·\s]?e|firefly"
    r"|imagen|invokeai|fooocus|leonardo|ideogram|flux|sdxl|gpt-4o|chatgpt|sora|image creator"
    r"|gemini|runway|diffusionbee|draw things|dreamstudio|krea)\b",
    re.IGNORECASE,
)
# PNG text keywords that only generator front-ends write, with the tool's name.
_PNG_KEYS = {
    "invokeai_metadata": "InvokeAI",
    "sd-metadata": "InvokeAI",
    "Dream": "InvokeAI",
    "fooocus_scheme": "Fooocus",
    "sui_image_params": "SwarmUI",
}
AUTOMATIC1111 = "Stable Diffusion web UI (Automatic1111)"
_A1111_MODEL = re.compile(r"\bModel: ([^,\n]+)")

EXIF_MAKE, EXIF_MODEL, EXIF_SOFTWARE, EXIF_IFD, EXIF_USER_COMMENT = (
    0x010F,
    0x0110,
    0x0131,
    0x8769,
    0x9286,
)


def _xmp_field(xmp: str, name: str) -> str | None:
    match = re.search(rf"{name}\s*(?:=\s*\"([^\"]*)\"|>([^<]+)<)", xmp)
    if match is None:
        return None
    return (match.group(1) or match.group(2) or "").strip() or None


def iptc_provenance(found: Metadata) -> Provenance | None:
    for xmp in found.xmp:
        match = _SOURCE_TYPE.search(xmp)
        if match is None:
            continue
        code = source_type_code(match.group(1))
        generator = _xmp_field(xmp, "AISystemUsed") or _xmp_field(xmp, "CreatorTool")
        return Provenance("iptc", claim_for(code), generator, details={"digital_source_type": code})
    return None


def _a1111(parameters: str, found_in: str) -> Provenance | None:
    # "Steps:" is in every Automatic1111 settings line; a bare "parameters" key is not enough.
    if "Steps: " not in parameters:
        return None
    model = _A1111_MODEL.search(parameters)
    details = {"found_in": found_in, "model": model.group(1).strip() if model else None}
    return Provenance("generator-metadata", AI_GENERATED, AUTOMATIC1111, details=details)


def _comfyui(text: dict[str, str]) -> Provenance | None:
    models: set[str] = set()
    keys = []
    for key in ("prompt", "workflow"):
        try:
            graph = json.loads(text.get(key) or "null")
        except ValueError:
            continue
        if not isinstance(graph, dict):
            continue
        nodes = graph.get("nodes", []) if key == "workflow" else list(graph.values())
        if key == "prompt" and not all(isinstance(n, dict) and "class_type" in n for n in nodes):
            continue
        keys.append(key)
        for node in nodes if isinstance(nodes, list) else []:
            inputs = node.get("inputs") if isinstance(node, dict) else None
            if isinstance(inputs, dict):
                models.update(str(inputs[k]) for k in ("ckpt_name", "unet_name") if k in inputs)
    if not keys:
        return None
    details: dict[str, Any] = {"found_in": ", ".join(f"png:{k}" for k in keys)}
    details["model"] = ", ".join(sorted(models)) or None
    return Provenance("generator-metadata", AI_GENERATED, "ComfyUI", details=details)


def _exif(found: Metadata) -> tuple[dict[int, Any], dict[int, Any]]:
    """IFD0 and the Exif IFD, parsed once; a broken EXIF block is a problem, not an error."""
    if found.exif_tags is None:
        found.exif_tags = {}, {}
        if found.exif:
            try:
                exif = Image.Exif()
                exif.load(found.exif)
                found.exif_tags = dict(exif), dict(exif.get_ifd(EXIF_IFD))
            except Exception as error:  # Pillow raises many types on a malformed TIFF
                found.problems.append(f"exif: unreadable ({type(error).__name__}: {error})")
    return found.exif_tags


def _user_comment(raw: object) -> str:
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes):
        return ""
    # EXIF UserComment: an 8-byte character code, then the text.
    if raw.startswith(b"UNICODE\x00"):
        body = raw[8:]
        return body.decode("utf-16-le" if body[1:2] == b"\x00" else "utf-16-be", "replace")
    return raw[8:].decode("utf-8", "replace")


def _text(value: object) -> str:
    return value.strip("\x00 ") if isinstance(value, str) else ""


def generator_provenance(found: Metadata) -> Provenance | None:
    """A generator's settings block or name, from the strongest hint to the weakest."""
    text = found.text
    if "parameters" in text and (result := _a1111(text["parameters"], "png:parameters")):
        return result
    if result := _comfyui(text):
        return result
    for key, name in _PNG_KEYS.items():
        if key in text:
            return Provenance(
                "generator-metadata", AI_GENERATED, name, details={"found_in": f"png:{key}"}
            )
    ifd0, exif_ifd = _exif(found)
    comment = _user_comment(exif_ifd.get(EXIF_USER_COMMENT))
    if result := _a1111(comment, "exif:UserComment"):
        return result
    candidates = [("exif:Software", _text(ifd0.get(EXIF_SOFTWARE)))]
    candidates.append(("png:Software", text.get("Software", "")))
    candidates += [("xmp:CreatorTool", _xmp_field(xmp, "CreatorTool") or "") for xmp in found.xmp]
    for where, name in candidates:
        if _GENERATOR_NAME.search(name):
            return Provenance(
                "generator-metadata", AI_GENERATED, name.strip(), details={"found_in": where}
            )
    return None


def camera_name(found: Metadata) -> str | None:
    """'Canon EOS R5' from EXIF Make and Model: shown, never claimed (EXIF is easily written)."""
    ifd0, _ = _exif(found)
    make, model = _text(ifd0.get(EXIF_MAKE)), _text(ifd0.get(EXIF_MODEL))
    if not (make or model):
        return None
    return model if make and model.startswith(make) else f"{make} {model}".strip()
