"""Why a verdict: a class-activation heatmap from the very model run that gave it.

    from ai_detector.inference.explain import explain_bytes
    (found,) = explain_bytes(Predictor(), [Path("photo.jpg").read_bytes()])
    found.to_dict()       # the verdict plus {"explanation": {overlay PNG, grid, peak...}}
    ai-detector explain photo.jpg --out heat.png         # the same from the shell

The model file must carry the ``cam_*`` outputs that :mod:`ai_detector.pipeline.cam_graph` adds
(the export stage adds them; older files get them with
``python -m ai_detector.pipeline.cam_graph``).
Each is one tap's share of every logit, per position. The heatmap is the evidence for the
verdict against its rival (a fake label against Real; Real against the likeliest fake
label): per tap ``cam[target] - cam[rival]``, upsampled to the model's input square and
summed, so its mean is the logit margin the verdict rests on; only the positive part,
scaled to a peak of 1, is shown.

Preprocessing and model are the verdict's own: the image is decoded and cropped by
:mod:`ai_detector.inference.preprocess` exactly as the Predictor does, and the maps come from
the same session run as the logits. For a cascade (int8 with an fp32 fallback) the rows whose int8
verdict lies near a boundary are run again in fp32, maps included, just as for a
prediction, so every explanation comes from the model file whose logits made its verdict
(``model_file`` names it). The verdict equals the one ``/predictions`` gives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ai_detector.inference.errors import InputError
from ai_detector.inference.heatmap import encode_png, heat_grid, heat_layer, overlay, peak
from ai_detector.inference.prediction import Prediction
from ai_detector.inference.predictor import Predictor
from ai_detector.inference.preprocess import decode_image, preprocess_image
from ai_detector.inference.provenance import read_provenance

METHOD = "class-activation map of the linear head over the pooled taps (no gradients)"


@dataclass(frozen=True)
class Explanation:
    prediction: Prediction
    target: str  # the label explained (the verdict)
    against: str  # the rival label the evidence is weighed against
    heat: np.ndarray  # (S, S) in [0, 1] over the square the model saw
    image: Image.Image  # the decoded, upright RGB image
    box: tuple[float, float, float, float]  # that square in the image: left, top, right, bottom
    model_file: str

    def overlay(self, max_side: int = 512) -> Image.Image:
        """The image (scaled to ``max_side``) with the heatmap over it."""
        return overlay(self.image, heat_layer(self.image, self.heat, self.box, max_side))

    def to_dict(self, max_side: int = 512, grid: int = 7) -> dict[str, Any]:
        width, height = self.image.size
        left, top, right, bottom = self.box
        x, y = peak(self.heat, self.box)
        layer = heat_layer(self.image, self.heat, self.box, max_side)
        return {
            **self.prediction.to_dict(),
            "explanation": {
                "method": METHOD,
                "target": self.target,
                "against": self.against,
                "model_file": self.model_file,
                # Fractions of the image's width and height, so they hold at any scale.
                "region": [
                    round(v, 4)
                    for v in (left / width, top / height, right / width, bottom / height)
                ],
                "peak": {"x": round(x / width, 4), "y": round(y / height, 4)},
                "grid": heat_grid(self.heat, grid),
                "overlay_png": encode_png(overlay(self.image, layer)),
                "heatmap_png": encode_png(layer),
            },
        }


def overlay_name(name: str) -> str:
    """A flat file name for the overlay of ``name``: photos/a.jpg -> photos_a.jpg.png."""
    return re.sub(r"[^\w.-]+", "_", name).strip("._") + ".png"


def write_overlay(found: Explanation, folder: Path, name: str, max_side: int = 1024) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / overlay_name(name)
    found.overlay(max_side).save(path, format="PNG")
    return path


def rival_index(
    target: int, probabilities: dict[str, float], labels: Sequence[str], real: int
) -> int:
    """Real for a fake verdict; the likeliest fake label for a Real one."""
    if target != real:
        return real
    fakes = [i for i in range(len(labels)) if i != real]
    return max(fakes, key=lambda i: probabilities[labels[i]])


def evidence_map(maps: Sequence[np.ndarray], target: int, rival: int, size: int) -> np.ndarray:
    """Sum over taps of (target - rival) maps, each upsampled to ``size`` square (logit units)."""
    total = np.zeros((size, size), np.float32)
    for tap in maps:
        contrast = (tap[target] - tap[rival]).astype(np.float32)
        total += np.asarray(
            Image.fromarray(contrast, "F").resize((size, size), Image.Resampling.BILINEAR)
        )
    return total


def crop_box(
    size: tuple[int, int], input_size: int, resize_size: int
) -> tuple[float, float, float, float]:
    """The square that preprocess.center_crop_resize takes from an image of ``size``."""
    width, height = size
    side = min(width, height) * input_size / resize_size
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def explain_bytes(predictor: Predictor, items: Sequence[bytes]) -> list[Explanation | InputError]:
    """Explain encoded images in one model call; bad ones come back as errors."""
    spec = predictor.spec
    decoded: list[Image.Image | InputError] = []
    for data in items:
        try:
            # The Predictor's own decoding (preprocess_bytes), kept to draw on.
            decoded.append(decode_image(data, draft_size=spec.resize_size))
        except InputError as error:
            decoded.append(error)
    images = [d for d in decoded if isinstance(d, Image.Image)]
    if not images:
        return [d for d in decoded if isinstance(d, InputError)]
    batch = np.stack([preprocess_image(image, spec) for image in images])
    run = predictor.run(batch, with_maps=True)
    logits, maps, files = run.logits, run.maps, run.model_files
    verdicts = predictor.verdicts(logits)
    labels, real = predictor.metadata.labels, predictor.metadata.real_index
    found: list[Explanation] = []
    for row, (image, verdict) in enumerate(zip(images, verdicts, strict=True)):
        target = labels.index(verdict.label)
        rival = rival_index(target, verdict.probabilities, labels, real)
        evidence = np.maximum(
            evidence_map([m[row] for m in maps], target, rival, spec.input_size), 0.0
        )
        top = float(evidence.max())
        heat = evidence / top if top > 0 else evidence
        box = crop_box(image.size, spec.input_size, spec.resize_size)
        found.append(
            Explanation(verdict, labels[target], labels[rival], heat, image, box, files[row])
        )
    answers = iter(found)
    return [
        d if isinstance(d, InputError) else _with_provenance(next(answers), data)
        for d, data in zip(decoded, items, strict=True)
    ]


def _with_provenance(found: Explanation, data: bytes) -> Explanation:
    # As for a prediction: what the original bytes state about their origin.
    stated = replace(found.prediction, provenance=read_provenance(data).to_dict())
    return replace(found, prediction=stated)
