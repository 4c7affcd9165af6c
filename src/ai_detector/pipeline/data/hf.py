"""Hugging Face datasets as a source (OpenDeepfake-Preview: classes Real/Deepfake).

``path`` is a hub id (``prithivMLmods/OpenDeepfake-Preview``) or a local folder saved
with ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, or a folder of parquet
files. Images are written once to ``cache_dir`` under their sha256 so the rest of
the pipeline reads files like every other source.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ai_detector.pipeline.data.records import Record

if TYPE_CHECKING:
    from ai_detector.pipeline.data.sources import SourceConfig

log = logging.getLogger(__name__)


def _load(path: str, splits: tuple[str, ...]) -> dict[str, Any]:
    import datasets

    local = Path(path)
    if (local / "dataset_dict.json").is_file() or (local / "dataset_info.json").is_file():
        loaded = datasets.load_from_disk(str(local))
    elif local.is_dir():
        loaded = datasets.load_dataset("parquet", data_dir=str(local))
    else:
        loaded = datasets.load_dataset(path)
    if isinstance(loaded, datasets.Dataset):
        return {"train": loaded}
    return {name: loaded[name] for name in splits if name in loaded}


def _image_bytes(value: Any) -> bytes:
    """Encoded bytes of a datasets Image value (a PIL image or a {bytes, path} dict)."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        return Path(value["path"]).read_bytes()
    buffer = io.BytesIO()
    # Keep the original encoding where Pillow knows it, so no re-encoding shortcut appears.
    value.save(buffer, format=value.format or "PNG")
    return buffer.getvalue()


def read_hf(config: SourceConfig, cache_dir: Path) -> list[Record]:
    from datasets import ClassLabel

    image_column = config.options.get("image_column", "image")
    label_column = config.options.get("label_column", "label")
    target = cache_dir / config.name
    target.mkdir(parents=True, exist_ok=True)
    records: list[Record] = []
    for split, dataset in _load(config.path, config.hf_splits).items():
        feature = dataset.features[label_column]
        names = feature.names if isinstance(feature, ClassLabel) else None
        # Undecoded: the original bytes are kept, so no re-encoding shortcut appears.
        image_feature = type(dataset.features[image_column])(decode=False)
        for row in dataset.cast_column(image_column, image_feature):
            raw = row[label_column]
            raw_name = names[raw] if names is not None else str(raw)
            if raw_name not in config.classes:
                raise ValueError(
                    f"source {config.name}: class {raw_name!r} is not in its class map "
                    f"{sorted(config.classes)}"
                )
            data = _image_bytes(row[image_column])
            digest = hashlib.sha256(data).hexdigest()
            path = target / f"{digest}.img"
            if not path.exists():
                path.write_bytes(data)
            source_split = "test" if split == "test" else ""
            records.append(
                Record(
                    str(path),
                    config.classes[raw_name],
                    config.name,
                    digest,
                    source_split=source_split,
                )
            )
    log.info("hf source %s: %d images cached in %s", config.name, len(records), target)
    return records
