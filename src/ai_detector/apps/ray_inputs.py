"""What the Ray engine (:mod:`ai_detector.apps.ray_batch`) scores, and how a file is read.

    files = list_files(["s3://bucket/images/"], recursive=True)   # or a folder, a parquet
    data = FileReader()(files[0])

A local folder is walked by the batch CLI's rules (image suffixes, ``--recursive``); a
``scheme://`` prefix (s3, gs, file, anything pyarrow's filesystems know) is listed by the
same suffixes; a ``.parquet`` file gives its ``path`` column, each a local path or a URI,
tried whatever the suffix (named on purpose, as the CLI's named files are). Reading keeps
the CLI's size limit, and raises OSError or InputError, which become the file's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ai_detector.apps.batch import InputFile, collect_inputs, read_image
from ai_detector.inference.errors import ImageTooLargeError
from ai_detector.inference.formats import IMAGE_SUFFIXES
from ai_detector.inference.preprocess import MAX_BYTES


@dataclass(frozen=True)
class ObjectFile(InputFile):
    """A file in an object store (``s3://``, ``gs://``, ``file://``...), read with pyarrow."""

    uri: str = ""


def list_files(sources: Sequence[str], recursive: bool) -> list[InputFile]:
    relative = len(sources) == 1
    files: list[InputFile] = []
    for source in map(str, sources):
        if source.endswith(".parquet"):
            files.extend(input_file(path) for path in _parquet_paths(source))
        elif "://" in source:
            files.extend(_list_uri(source, recursive, relative))
        else:
            files.extend(collect_inputs([Path(source)], recursive).files)
    return files


def input_file(location: str, name: str | None = None) -> InputFile:
    name = name or location
    return (
        ObjectFile(Path(name), name, uri=location)
        if "://" in location
        else InputFile(Path(location), name)
    )


def _parquet_paths(source: str) -> list[str]:
    import pyarrow.parquet as pq

    table = pq.read_table(source)
    if "path" not in table.column_names:
        raise ValueError(f"{source} has no `path` column (it has {', '.join(table.column_names)})")
    return [str(path) for path in table.column("path").to_pylist() if path]


def _list_uri(source: str, recursive: bool, relative: bool) -> list[InputFile]:
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(source)
    scheme = source.split("://", 1)[0]
    found = filesystem.get_file_info(base)
    if found.type == fs.FileType.NotFound:
        raise FileNotFoundError(f"{source} does not exist")
    if found.type == fs.FileType.File:
        return [input_file(source)]
    listed = filesystem.get_file_info(fs.FileSelector(base, recursive=recursive))
    paths = sorted(i.path for i in listed if i.type == fs.FileType.File)
    images = [path for path in paths if Path(path).suffix.lower() in IMAGE_SUFFIXES]
    cut = len(base.rstrip("/")) + 1
    return [input_file(f"{scheme}://{path}", path[cut:] if relative else None) for path in images]


class FileReader:
    """A file's bytes, local or from an object store, one filesystem client per bucket
    (creating an S3 client per file would cost more than the read)."""

    def __init__(self) -> None:
        self.filesystems: dict[str, Any] = {}

    def __call__(self, item: InputFile) -> bytes:
        if not isinstance(item, ObjectFile):
            return read_image(item.path)
        from pyarrow import fs

        scheme, path = item.uri.split("://", 1)  # pyarrow's path: bucket/key, or /abs for file
        root = f"{scheme}://{path.split('/', 1)[0]}"
        if root not in self.filesystems:
            self.filesystems[root] = fs.FileSystem.from_uri(item.uri)[0]
        filesystem = self.filesystems[root]
        size = filesystem.get_file_info(path).size or 0
        if size > MAX_BYTES:
            raise ImageTooLargeError(f"the image is {size} bytes; the limit is {MAX_BYTES}")
        with filesystem.open_input_stream(path) as stream:
            return bytes(stream.read())
