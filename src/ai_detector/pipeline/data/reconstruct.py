"""Content-matched fakes: real photos passed through a generator's autoencoder (issue #23).

For a seeded share of the real images of ``prepare.reconstruct_from``'s sources, the
prepare stage adds a pair in the parent's split: the photo, and the photo encoded and
decoded by the tiny FLUX.2 autoencoder (:mod:`.taesd`), labelled AI-generated. Both are
cropped alike and saved as JPEG at one quality drawn for the pair from
``prepare.reconstruct_quality``, so content, size and compression say nothing and only
the decoder's traces tell them apart (B-Free, CVPR 2025; SPAI's and DRCT's
reconstructions). The autoencoder's weights are files of a GitHub repository at the
commit the sources file records under ``autoencoder:`` (configs/sources/dev.yaml).

Reconstructions are cached under ``<cache>/reconstruct/<weights>/`` by the parent's
sha256 and the quality, so a re-run of prepare recomputes none (about 1 s per 384 px
image on 2 cores).
"""

from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from ai_detector.inference.preprocess import decode_image
from ai_detector.pipeline.data.encoding import jpeg_bytes
from ai_detector.pipeline.data.github import fetch_files
from ai_detector.pipeline.data.records import AI_GENERATED, REAL, Record
from ai_detector.pipeline.data.taesd import MULTIPLE, TinyAutoencoder
from ai_detector.pipeline.params import PrepareParams

SOURCE = "reconstruct"
GROUP = "taef2"

log = logging.getLogger(__name__)


def load_autoencoder(sources_path: str | Path, cache_dir: Path) -> tuple[TinyAutoencoder, str]:
    """The autoencoder the sources file records, and a key naming its weights."""
    raw = yaml.safe_load(Path(sources_path).read_text()) or {}
    entry = raw.get("autoencoder")
    if not entry:
        raise ValueError(f"prepare.reconstruct_from is set but {sources_path} has no 'autoencoder'")
    encoder, decoder = fetch_files(
        entry["repo"], entry["commit"], [entry["encoder"], entry["decoder"]], cache_dir
    )
    digest = hashlib.sha256(encoder.read_bytes() + decoder.read_bytes()).hexdigest()[:16]
    return TinyAutoencoder.load(encoder, decoder), digest


def pair_bytes(autoencoder: TinyAutoencoder, data: bytes, quality: int) -> tuple[bytes, bytes]:
    """(the real photo, its reconstruction), both cropped to the autoencoder's grid and
    saved as JPEG at ``quality``."""
    image = decode_image(data)
    width, height = (side // MULTIPLE * MULTIPLE for side in image.size)
    image = image.crop((0, 0, width, height))
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    rebuilt = autoencoder.reconstruct(pixels)[0].permute(1, 2, 0).numpy()
    fake = Image.fromarray(np.round(rebuilt * 255).astype(np.uint8))
    return jpeg_bytes(image, quality), jpeg_bytes(fake, quality)


def reconstruct(
    records: list[Record], params: PrepareParams, cache_dir: Path, out_dir: Path
) -> list[Record]:
    """The real/reconstruction pairs for a share of the listed sources' real records."""
    parents = [r for r in records if r.source in params.reconstruct_from and r.label == REAL]
    missing = set(params.reconstruct_from) - {r.source for r in parents}
    if missing:
        raise ValueError(f"prepare.reconstruct_from: no real images in sources {sorted(missing)}")
    chosen = []
    for parent in sorted(parents, key=lambda r: r.sha256):
        # One draw per photo (not one stream): a larger share keeps every pair a smaller made.
        rng = random.Random(f"{params.seed}-{parent.sha256}")
        if rng.random() < params.reconstruct_share:
            chosen.append((parent, rng.randint(*params.reconstruct_quality)))
    autoencoder, weights = load_autoencoder(params.sources, cache_dir)
    folder = cache_dir / SOURCE / weights
    folder.mkdir(parents=True, exist_ok=True)
    target = out_dir / SOURCE
    target.mkdir(parents=True, exist_ok=True)
    made: list[Record] = []
    for number, (parent, quality) in enumerate(chosen):
        real_path = folder / f"{parent.sha256[:24]}-q{quality}-real.jpg"
        fake_path = folder / f"{parent.sha256[:24]}-q{quality}-{GROUP}.jpg"
        if not (real_path.is_file() and fake_path.is_file()):
            real, fake = pair_bytes(autoencoder, parent.read_bytes(), quality)
            real_path.write_bytes(real)
            fake_path.write_bytes(fake)
        for path, label, group in (
            (real_path, REAL, parent.origin),
            (fake_path, AI_GENERATED, GROUP),
        ):
            data = path.read_bytes()
            copy = target / path.name
            copy.write_bytes(data)  # inside the stage's output, as every prepared file
            sha = hashlib.sha256(data).hexdigest()
            made.append(Record(str(copy), label, SOURCE, sha, parent.split, group=group))
        if number % 100 == 99:
            log.info("reconstructed %d of %d", number + 1, len(chosen))
    log.info("made %d real/reconstruction pairs from %s", len(chosen), params.reconstruct_from)
    return made
