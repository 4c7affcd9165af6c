"""Build tiny datasets on disk in each supported layout (for loader and pipeline tests)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import encode_image, textured_image


def image_bytes(index: int, fake: bool, size: tuple[int, int] = (64, 48)) -> bytes:
    # Fakes are red-tinted: a difference even a frozen ImageNet backbone sees at once.
    return encode_image(
        textured_image(size, seed=index, tint="red" if fake else "none"), "JPEG", quality=90
    )


def make_folder_dataset(
    root: Path, per_class: int = 10, classes: tuple[str, ...] = ("real", "fake")
) -> Path:
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            (root / name / f"{index}.jpg").write_bytes(
                image_bytes(index + 1000 * classes.index(name), name != "real")
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
