"""Provenance evidence read from an image file's own metadata, next to the model's verdict.

    from ai_detector.inference.provenance import read_provenance
    read_provenance(data).to_dict()
    # {"source": "c2pa" | "iptc" | "generator-metadata" | "none",
    #  "claims": "ai-generated" | "ai-edited" | "camera" | None,
    #  "generator": str | None, "signed": bool, "valid": bool | None, "details": {...}}

Modules: ``containers`` finds the metadata blocks, ``content_credentials`` reads C2PA,
``embedded`` reads IPTC and generator settings, ``reader`` picks the answer.
"""

from ai_detector.inference.provenance.reader import read_provenance
from ai_detector.inference.provenance.result import Provenance

__all__ = ["Provenance", "read_provenance"]
