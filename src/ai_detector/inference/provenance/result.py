"""The provenance answer and the vocabulary it is stated in.

A :class:`Provenance` says what an image file states about its own origin, never
what the pixels look like. ``to_dict()`` is the ``provenance`` field of the REST
answer:

    {"source": "c2pa", "claims": "ai-generated", "generator": "...", "signed": true,
     "valid": true, "details": {...}}

Kept free of third-party imports so that anything can use the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Strongest evidence first: a signed manifest beats an unsigned IPTC field, which
# beats a tool's own settings block.
SOURCES = ("c2pa", "iptc", "generator-metadata", "none")
AI_GENERATED = "ai-generated"
AI_EDITED = "ai-edited"
CAMERA = "camera"

IPTC_SOURCE_TYPE_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# IPTC's digital source type codes that state something this service speaks about.
# Codes not listed (algorithmicMedia: made by a program without training data,
# digitalCreation: drawn by hand in software, composite, screenCapture...) leave the
# claim empty and are only shown in the details.
SOURCE_TYPE_CLAIMS = {
    "trainedAlgorithmicMedia": AI_GENERATED,
    "compositeWithTrainedAlgorithmicMedia": AI_EDITED,
    "digitalCapture": CAMERA,
    "computationalCapture": CAMERA,
    "negativeFilm": CAMERA,
    "positiveFilm": CAMERA,
}


def source_type_code(value: object) -> str | None:
    """'http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture' -> 'digitalCapture'."""
    if not isinstance(value, str) or not value:
        return None
    return value.rstrip("/").rsplit("/", 1)[-1]


def claim_for(code: str | None, created: bool = True) -> str | None:
    """The claim a digital source type makes; AI in an edit (not a creation) is an AI edit."""
    claim = SOURCE_TYPE_CLAIMS.get(code or "")
    if claim == AI_GENERATED and not created:
        return AI_EDITED
    return claim


@dataclass(frozen=True)
class Provenance:
    """What the file states about its origin; ``source="none"`` when it states nothing."""

    source: str = "none"
    claims: str | None = None
    generator: str | None = None
    signed: bool = False
    # Only a signature can be checked: None for unsigned sources and for "none".
    valid: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.source != "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "claims": self.claims,
            "generator": self.generator,
            "signed": self.signed,
            "valid": self.valid,
            "details": dict(self.details),
        }
