"""Build tiny datasets on disk in each supported layout (for loader and pipeline tests)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from ai_detector.pipeline.data.records import Record, sha256_file
from tests.conftest import encode_image, textured_image


def image_bytes(index: int, fake: bool, size: tuple[int, int] = (64, 48)) -> bytes:
    # Fakes are red-tinted: a difference even a frozen ImageNet backbone sees at once.
    return encode_image(
        textured_image(size, seed=index, tint="red" if fake else "none"), "JPEG", quality=90
    )


def origin_records(root: Path, origins: Sequence[tuple[str, str, int]]) -> list[Record]:
    """Tiny JPEGs under ``root/<origin>/`` for each (origin, label, count), fakes red, as
    records of source "tiny": of each origin 4 train, 2 val and the rest test."""
    made = []
    for k, (origin, label, count) in enumerate(origins):
        for i in range(count):
            path = root / origin / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(image_bytes(100 * k + i, label != "Real"))
            split = "train" if i < 4 else "val" if i < 6 else "test"
            made.append(Record(str(path), label, "tiny", sha256_file(path), split, "", origin))
    return made


def make_folder_dataset(
    root: Path, per_class: int = 10, classes: tuple[str, ...] = ("real", "fake"), offset: int = 0
) -> Path:
    """``per_class`` images per class folder; another ``offset`` gives other images."""
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            (root / name / f"{index}.jpg").write_bytes(
                image_bytes(offset + index + 1000 * classes.index(name), name != "real")
            )
    return root


def make_cifake_dataset(root: Path, per_class: int = 4) -> Path:
    for split in ("train", "test"):
        for name in ("REAL", "FAKE"):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                seed = index + (100 if split == "test" else 0) + (1000 if name == "FAKE" else 0)
                (folder / f"{index} (2).jpg").write_bytes(
                    image_bytes(seed, name == "FAKE", (32, 32))
                )
    return root


def make_csv_dataset(root: Path, per_class: int = 3) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = ["filename,label"]
    for index in range(per_class * 2):
        fake = index % 2 == 1
        (root / "images" / f"img{index}.jpg").write_bytes(image_bytes(index + 500, fake))
        rows.append(f"images/img{index}.jpg,{'FAKE' if fake else 'REAL'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def make_hf_dataset(root: Path, per_class: int = 3) -> Path:
    """An OpenDeepfake-Preview look-alike (image + ClassLabel Real/Deepfake), saved to disk."""
    import io

    from datasets import ClassLabel, Dataset, DatasetDict, Features, Image
    from PIL import Image as PILImage

    features = Features({"image": Image(), "label": ClassLabel(names=["Deepfake", "Real"])})

    def split(offset: int) -> Dataset:
        images, labels = [], []
        for index in range(per_class * 2):
            label = index % 2
            images.append(PILImage.open(io.BytesIO(image_bytes(index + offset, label == 0))))
            labels.append(label)
        return Dataset.from_dict({"image": images, "label": labels}, features=features)

    DatasetDict({"train": split(0), "test": split(300)}).save_to_disk(str(root))
    return root


def make_hf_parquet_snapshot(
    root: Path, per_class: int = 3, names: tuple[str, ...] = ("Fake", "Real"), label: str = "label"
) -> Path:
    """What ``hf download <id> --repo-type dataset --local-dir root`` leaves for a parquet
    dataset such as OpenDeepfake-Preview: a card and data/train-*.parquet (image + ClassLabel)."""
    import io

    from datasets import ClassLabel, Dataset, Features, Image
    from PIL import Image as PILImage

    features = Features({"image": Image(), label: ClassLabel(names=list(names))})
    images, labels = [], []
    for index in range(per_class * len(names)):
        value = index % len(names)
        images.append(PILImage.open(io.BytesIO(image_bytes(index + 700, names[value] != "Real"))))
        labels.append(value)
    (root / "data").mkdir(parents=True, exist_ok=True)
    Dataset.from_dict({"image": images, label: labels}, features=features).to_parquet(
        str(root / "data" / "train-00000-of-00001.parquet")
    )
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# stand-in\n")
    return root


def make_generated_or_not_dataset(root: Path, per_class: int = 3) -> Path:
    """Kaggle generated-or-not: images/ and train.csv (id, target); every other id is
    listed without its file's suffix, as in the competition's files."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = ["id,target"]
    for index in range(per_class * 2):
        fake = index % 2 == 1
        (root / "images" / f"g{index}.jpg").write_bytes(image_bytes(index + 900, fake))
        rows.append(f"g{index}{'.jpg' if index % 4 < 2 else ''},{int(fake)}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    (root / "test.csv").write_text("id\nunlabelled.jpg\n")
    return root


def write_folder_sources(sources: Path, root: Path, name: str = "set") -> Path:
    """A sources list (configs/sources layout) naming one real/fake folder dataset."""
    entry = {
        "name": name,
        "layout": "folder",
        "path": str(root),
        "classes": {"real": "Real", "fake": "AI-generated"},
    }
    sources.write_text(yaml.safe_dump({"sources": [entry]}))
    return sources
