"""The labelled record every data source produces, and its CSV form.

A record points at an image file (or holds its bytes, for hub datasets), names its
class in the project's vocabulary, the source it came from, its split, and the
sha256 of its bytes, which de-duplication and leakage checks rely on.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

REAL, AI_GENERATED, DEEPFAKE = "Real", "AI-generated", "Deepfake"
CLASS_ORDER = (REAL, AI_GENERATED, DEEPFAKE)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Record:
    path: str
    label: str
    source: str
    sha256: str
    split: str = ""
    # The split the source itself assigned ("" when it has none); its test split is kept as test.
    source_split: str = ""
    # Origin within the source (a generator family, a photo collection; "" = the source
    # itself): the unit that leave-one-source-out evaluation holds out (ai_detector.generalise).
    group: str = ""

    @property
    def origin(self) -> str:
        return self.group or self.source

    def with_split(self, split: str) -> Record:
        return replace(self, split=split)

    def read_bytes(self) -> bytes:
        return Path(self.path).read_bytes()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ordered_labels(labels: set[str] | list[str]) -> tuple[str, ...]:
    """The model's label order: known classes first in a fixed order, then others sorted."""
    present = set(labels)
    known = [label for label in CLASS_ORDER if label in present]
    return tuple(known + sorted(present - set(CLASS_ORDER)))


def write_records(records: list[Record], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Record)])
        writer.writeheader()
        writer.writerows(asdict(record) for record in records)


def read_records(path: Path, split: str | None = None) -> list[Record]:
    with path.open(newline="") as handle:
        records = [Record(**row) for row in csv.DictReader(handle)]
    return [r for r in records if split is None or r.split == split]
