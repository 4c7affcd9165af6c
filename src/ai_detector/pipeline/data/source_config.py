"""What a data source is: its :class:`SourceConfig` (one entry of configs/sources/*.yaml),
the :class:`SourceError` its readers raise, and the mapping of its class names to labels.

    from ai_detector.pipeline.data.sources import SourceConfig, read_source
    records = read_source(SourceConfig("set", "folder", "data/set", {"real": "Real"}))

Its own module because both readers need it: :mod:`.sources` (the folder and CSV layouts,
and the dispatch by layout) and :mod:`.hf` (the Hugging Face layout, which sources calls
for ``layout: hf``). Defined in sources, it made the two import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LAYOUTS = ("folder", "split_folder", "csv", "hf", "github")
GROUP_BY = ("", "class", "prefix", "manifest")


@dataclass(frozen=True)
class SourceConfig:
    name: str
    layout: str
    path: str
    # Maps the source's class names (folder names, CSV values) to project labels.
    classes: dict[str, str]
    max_per_class: int | None = None
    # csv layout: the labels file and its column names.
    labels_file: str = "labels.csv"
    file_column: str = "filename"
    label_column: str = "label"
    # hf layout: split names and the image/label columns.
    hf_splits: tuple[str, ...] = ("train", "test")
    options: dict[str, Any] = field(default_factory=dict)
    # Each record's origin group: "" (the source), "class" (its class folder), "prefix"
    # (its file name up to the first "_") or "manifest" (the ``generator`` that the
    # source's manifest.json names for the file, up to " ("); ``groups`` renames keys.
    group_by: str = ""
    groups: dict[str, str] = field(default_factory=dict)
    # Only the records of these groups (after renaming), e.g. one generator of a
    # manifest for training and the others for evaluation; empty keeps all.
    keep_groups: tuple[str, ...] = ()
    # github layout (pipeline.data.github): ``path`` is owner/name; the commit, the files
    # per source class (pathspec globs) and the re-encoding applied to both classes.
    commit: str = ""
    files: dict[str, list[str]] = field(default_factory=dict)
    normalise: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(
                f"source {self.name}: layout must be one of {LAYOUTS}, got {self.layout!r}"
            )
        if not self.classes:
            raise ValueError(f"source {self.name}: 'classes' must map source classes to labels")
        if self.group_by not in GROUP_BY:
            raise ValueError(
                f"source {self.name}: group_by must be one of {GROUP_BY}, got {self.group_by!r}"
            )
        if self.keep_groups and not self.group_by:
            raise ValueError(f"source {self.name}: keep_groups needs a group_by")


class SourceError(ValueError):
    """A source's files do not match its declared layout."""


def label_for(config: SourceConfig, raw: str, where: str) -> str:
    """The project label of a source class name; a class outside the map is an error."""
    try:
        return config.classes[raw]
    except KeyError:
        raise SourceError(
            f"source {config.name}: class {raw!r} at {where} is not in its class map "
            f"{sorted(config.classes)}"
        ) from None
