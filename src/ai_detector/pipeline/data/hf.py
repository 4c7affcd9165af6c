"""Hugging Face datasets as a source (OpenDeepfake-Preview: an image and a ClassLabel
``label``, 0 = Fake, 1 = Real, one split ``train``; configs/sources/production.yaml).

``path`` is a local folder saved with ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``,
or a folder holding parquet files anywhere below it (a hub snapshot fetched with
``hf download <id> --repo-type dataset --local-dir <folder>``: ``data/train-*.parquet``
become split ``train``), or a hub id (``owner/name``, downloaded by ``datasets`` on first
use, where the hub can be reached). Images are written once to ``cache_dir`` under their
sha256 so the rest of the pipeline reads files like every other source.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from pathlib import Path
from typing import Any

from ai_detector.pipeline.data.records import Record
from ai_detector.pipeline.data.source_config import SourceConfig, SourceError

HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")

log = logging.getLogger(__name__)


def _load(config: SourceConfig, cache_dir: Path) -> dict[str, Any]:
    import datasets

    local = Path(config.path)
    if (local / "dataset_dict.json").is_file() or (local / "dataset_info.json").is_file():
        loaded = datasets.load_from_disk(str(local))
    elif local.is_dir():
        if not any(local.rglob("*.parquet")):
            raise SourceError(
                f"source {config.name}: {local} holds neither a dataset saved with "
                "save_to_disk (dataset_dict.json) nor parquet files"
            )
        loaded = datasets.load_dataset(
            "parquet", data_dir=str(local), cache_dir=str(cache_dir / "hf-datasets")
        )
    elif HUB_ID.match(config.path):
        try:
            loaded = datasets.load_dataset(config.path)
        # Any failure (offline, no such dataset, no access): said once, with the way out.
        except Exception as error:
            raise SourceError(
                f"source {config.name}: could not load {config.path} from the Hugging Face hub "
                f"({error}); fetch it where the hub is reachable and point path at the folder"
            ) from error
    else:
        raise SourceError(f"source {config.name}: {local} is not a folder (nor a hub id)")
    if isinstance(loaded, datasets.Dataset):
        return {"train": loaded}
    chosen = {name: loaded[name] for name in config.hf_splits if name in loaded}
    if not chosen:
        raise SourceError(
            f"source {config.name}: none of the splits {list(config.hf_splits)} in "
            f"{config.path}, which has {sorted(loaded)}"
        )
    return chosen


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
    for split, dataset in _load(config, cache_dir).items():
        missing = {image_column, label_column} - set(dataset.features)
        if missing:
            raise SourceError(
                f"source {config.name}: split {split} has no column {sorted(missing)}; "
                f"it has {sorted(dataset.features)} (set options: image_column / label_column)"
            )
        feature = dataset.features[label_column]
        names = feature.names if isinstance(feature, ClassLabel) else None
        # Undecoded: the original bytes are kept, so no re-encoding shortcut appears.
        image_feature = type(dataset.features[image_column])(decode=False)
        for row in dataset.cast_column(image_column, image_feature):
            raw = row[label_column]
            raw_name = names[raw] if names is not None else str(raw)
            if raw_name not in config.classes:
                raise SourceError(
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
