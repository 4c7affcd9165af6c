"""Read what an image file states about its origin, from its original bytes.

    from ai_detector.inference.provenance import read_provenance
    print(read_provenance(open("image.jpg", "rb").read()).to_dict())

Runs on the bytes as received, before preprocessing decodes and strips anything, and
never touches the pixels the model sees. Of the sources found, the strongest is the
answer (C2PA, then IPTC, then generator settings); the others are listed in
``details.also``. A file with none answers ``source: "none"``, with the camera named
in ``details.camera`` when EXIF names one. Never raises: odd metadata is reported in
``details.problems``.
"""

from __future__ import annotations

import logging

from ai_detector.inference.provenance.containers import find_metadata
from ai_detector.inference.provenance.content_credentials import read_c2pa
from ai_detector.inference.provenance.embedded import (
    camera_name,
    generator_provenance,
    iptc_provenance,
)
from ai_detector.inference.provenance.result import Provenance

log = logging.getLogger(__name__)


def read_provenance(data: bytes) -> Provenance:
    try:
        return _read(data)
    except Exception as error:
        # A bug here must not cost the client its verdict: say so in the answer and the log.
        log.exception("reading provenance failed")
        return Provenance(details={"problems": [f"provenance not read: {error!r}"]})


def _read(data: bytes) -> Provenance:
    found = find_metadata(data)
    candidates = [
        read_c2pa(data, found.format) if found.has_c2pa else None,
        iptc_provenance(found),
        generator_provenance(found),
    ]
    present = [candidate for candidate in candidates if candidate is not None]
    best = present[0] if present else Provenance()
    details = dict(best.details)
    if len(present) > 1:
        details["also"] = [{"source": p.source, "claims": p.claims} for p in present[1:]]
    if not present and (camera := camera_name(found)):
        details["camera"] = camera
    if found.problems:
        details["problems"] = found.problems
    return _with_details(best, details)


def _with_details(result: Provenance, details: dict[str, object]) -> Provenance:
    return Provenance(
        result.source, result.claims, result.generator, result.signed, result.valid, details
    )
