"""The teacher's embeddings file: what stage ``teacher`` writes and the train and logo
stages read (ai_detector.pipeline.teacher, ai_detector.pipeline.distil).

    from ai_detector.pipeline.data.embeddings import read_embeddings, write_embeddings

``<folder>/embeddings.npz`` holds two arrays: ``sha256`` (one per image, as in
records.csv) and ``embeddings`` (float32, one row per image). Keyed by content, so a
fold that drops records, or a records file whose order changes, still finds its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# The splits the teacher's heads learn from (train) and stop early on (val).
TEACHER_SPLITS = ("train", "val")
EMBEDDINGS_FILE = "embeddings.npz"


def write_embeddings(folder: Path, shas: Sequence[str], embeddings: np.ndarray) -> Path:
    """``folder``/embeddings.npz: row i of ``embeddings`` is the image of ``shas[i]``."""
    if len(shas) != len(embeddings):
        raise ValueError(f"{len(shas)} images but {len(embeddings)} embeddings")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EMBEDDINGS_FILE
    np.savez(path, sha256=np.array(shas, dtype=str), embeddings=embeddings.astype(np.float32))
    return path


def read_embeddings(folder: Path) -> dict[str, np.ndarray]:
    """sha256 -> embedding, as ``write_embeddings`` left them in ``folder``."""
    path = folder / EMBEDDINGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no teacher embeddings; run the teacher stage first")
    with np.load(path) as stored:
        return dict(zip((str(s) for s in stored["sha256"]), stored["embeddings"], strict=True))
