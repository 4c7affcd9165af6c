"""C2PA Content Credentials through the official ``c2pa-python`` bindings.

    read_c2pa(data, "image/jpeg")  # Provenance(source="c2pa", ...) or None

Reads the active manifest: its claim generator, the ``c2pa.created`` /
``c2pa.edited`` actions and their IPTC digital source type, the signer, and whether
the signature and the hashes of the image check out. ``valid`` is the integrity
verdict (the bytes are the ones that were signed); whether the signer is *trusted*
is separate, in ``details.trust``: no trust list ships with this service, so a
signature is "untrusted" unless ``$AI_DETECTOR_C2PA_TRUST_ANCHORS`` names a PEM file
of trust anchors (the C2PA trust list, say). Nothing is fetched over the network
(no remote manifests, no OCSP). A manifest that cannot be parsed becomes
``valid: false`` with the library's reason; this never raises.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
from typing import Any

from ai_detector.inference.provenance.result import (
    AI_EDITED,
    AI_GENERATED,
    CAMERA,
    Provenance,
    claim_for,
    source_type_code,
)

log = logging.getLogger(__name__)

TRUST_ANCHORS_ENV = "AI_DETECTOR_C2PA_TRUST_ANCHORS"
UNTRUSTED = "signingCredential.untrusted"
CLAIM_RANK = {AI_GENERATED: 3, AI_EDITED: 2, CAMERA: 1}
MIME_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@functools.lru_cache(maxsize=4)
def _context(anchors_path: str) -> Any:
    """A c2pa Context that never goes to the network, with the trust anchors if any."""
    import c2pa  # 23 MB native library: loaded only once a file carries a manifest

    settings: dict[str, Any] = {
        "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False}
    }
    if anchors_path:
        with open(anchors_path, encoding="utf-8") as anchors:
            settings["trust"] = {"trust_anchors": anchors.read()}
    return c2pa.Context.from_dict(settings)


def read_c2pa(data: bytes, image_format: str) -> Provenance | None:
    """The active manifest's statement, or None when the file holds no C2PA store."""
    anchors = os.environ.get(TRUST_ANCHORS_ENV, "")
    try:
        import c2pa
    except (ImportError, OSError) as error:  # a platform without the native library
        log.warning("c2pa cannot be loaded, so Content Credentials are not read: %s", error)
        return _unchecked(f"the c2pa library cannot be loaded: {error}")
    try:
        context = _context(anchors)
    except (OSError, c2pa.C2paError) as error:
        log.error("unusable C2PA trust anchors %s=%s: %s", TRUST_ANCHORS_ENV, anchors, error)
        return _unchecked(f"the trust anchors in ${TRUST_ANCHORS_ENV} are unusable: {error}")
    try:
        reader = c2pa.Reader.try_create(
            MIME_TYPES.get(image_format), io.BytesIO(data), None, context
        )
        if reader is None:
            return None
        with reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError.NotSupported:
        # A format c2pa cannot parse, found by a byte search ("c2pa" in a BMP, say).
        return None
    except (c2pa.C2paError, ValueError) as error:
        return Provenance("c2pa", signed=False, valid=False, details={"error": str(error)})
    return _statement(store, state, trust_list=os.path.basename(anchors) or None)


def _unchecked(reason: str) -> Provenance:
    return Provenance("c2pa", valid=None, details={"error": reason})


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    actions = []
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith(
            "c2pa.actions"
        ):
            found = (assertion.get("data") or {}).get("actions") or []
            actions += [action for action in found if isinstance(action, dict)]
    return actions


def _agent_name(agent: object) -> str | None:
    if isinstance(agent, dict):
        agent = agent.get("name")
    return agent if isinstance(agent, str) and agent else None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        first = info[0]
        return " ".join(str(first[key]) for key in ("name", "version") if first.get(key))
    return _agent_name(manifest.get("claim_generator"))


def _statement(store: dict[str, Any], state: str | None, trust_list: str | None) -> Provenance:
    manifests = store.get("manifests") or {}
    manifest = manifests.get(store.get("active_manifest")) or {}
    claim: str | None = None
    agent: str | None = None
    described = []
    for action in _actions(manifest):
        name = str(action.get("action", ""))
        code = source_type_code(action.get("digitalSourceType"))
        described.append({"action": name, "digital_source_type": code})
        found = claim_for(code, created=name == "c2pa.created")
        # An AI edit of a captured photo makes it AI-edited, an AI creation AI-generated.
        if found and CLAIM_RANK[found] > CLAIM_RANK.get(claim or "", 0):
            claim, agent = found, _agent_name(action.get("softwareAgent")) or agent
    signature = manifest.get("signature_info") or {}
    failures = [
        str(status.get("code"))
        for status in store.get("validation_status") or []
        if isinstance(status, dict)
    ]
    details: dict[str, Any] = {
        "claim_generator": _claim_generator(manifest),
        "signer": signature.get("issuer") or signature.get("common_name"),
        "certificate": signature.get("common_name"),
        "signed_at": signature.get("time"),
        "actions": described,
        "validation_state": state,
        "trust": "trusted" if state == "Trusted" else "untrusted",
        "trust_list": trust_list,
        "failures": failures,
    }
    problems = [code for code in failures if code != UNTRUSTED]
    if problems:
        details["error"] = "; ".join(problems)
    return Provenance(
        "c2pa",
        claims=claim,
        generator=agent or details["claim_generator"],
        signed=bool(signature),
        # The library calls a store "Invalid" when a signature or hash fails; an
        # untrusted signer alone leaves it "Valid".
        valid=state in ("Valid", "Trusted") if state else not problems,
        details=details,
    )
