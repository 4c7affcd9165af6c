"""Folder walking and batched prediction for ``ai-detector predict``.

:mod:`ai_detector.apps.cli` parses arguments and picks exit codes; this module does the
work, and can be used from Python as well:

    for result in predict_files(Predictor(), collect_inputs([Path("photos")]).files):
        print(result.name, result.prediction or result.error_text)

A file that cannot be read or decoded becomes a :class:`Result` with an error; it
never stops the run. The results become files or a table in :mod:`ai_detector.apps.results`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ai_detector.inference.errors import CorruptImageError, ImageTooLargeError, InputError
from ai_detector.inference.explain import Explanation, explain_bytes, write_overlay
from ai_detector.inference.formats import IMAGE_SUFFIXES
from ai_detector.inference.predictor import Prediction, Predictor
from ai_detector.inference.preprocess import MAX_BYTES

log = logging.getLogger(__name__)

DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)


@dataclass(frozen=True)
class InputFile:
    path: Path
    # What the output calls the file: relative to the folder when one folder was given,
    # so a run inside Docker (/app/input/...) names files as they are on the host.
    name: str
    # Set when the file is known to be unusable before reading (an unlistable folder).
    error: InputError | OSError | None = None


@dataclass
class Inputs:
    files: list[InputFile] = field(default_factory=list)
    ignored: int = 0  # files in folders whose extension is not an image's
    unsearched: int = 0  # subfolders left out without --recursive


def collect_inputs(paths: Sequence[Path], recursive: bool = False) -> Inputs:
    """Image files in folders (by extension) plus files named explicitly (any extension).

    Raises FileNotFoundError for a path that does not exist.
    """
    inputs = Inputs()
    relative = len(paths) == 1 and paths[0].is_dir()
    for path in paths:
        if path.is_dir():
            _walk(path, recursive, relative, inputs)
        elif path.exists() or path.is_symlink():
            # Named on purpose: tried whatever its extension, so a mistake shows as an error.
            inputs.files.append(InputFile(path, str(path)))
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return inputs


def _walk(root: Path, recursive: bool, relative: bool, inputs: Inputs) -> None:
    def unlistable(error: OSError) -> None:
        # os.walk drops folders it cannot list unless told; list them as failed rows.
        where = Path(error.filename or root)
        inputs.files.append(InputFile(where, _name(where, root, relative), error))

    for folder, subfolders, names in os.walk(root, onerror=unlistable):
        subfolders.sort()
        if not recursive:
            inputs.unsearched += len(subfolders)
            subfolders.clear()
        for name in sorted(names):
            path = Path(folder) / name
            if path.suffix.lower() in IMAGE_SUFFIXES:
                inputs.files.append(InputFile(path, _name(path, root, relative)))
            else:
                inputs.ignored += 1


def _name(path: Path, root: Path, relative: bool) -> str:
    return path.relative_to(root).as_posix() if relative else str(path)


@dataclass(frozen=True)
class Result:
    name: str
    prediction: Prediction | None
    error_type: str = ""
    error_message: str = ""

    @property
    def error_text(self) -> str:
        return f"{self.error_type}: {self.error_message}" if self.error_type else ""

    @classmethod
    def failed(cls, name: str, error: BaseException) -> Result:
        if isinstance(error, InputError):
            return cls(name, None, error.code, error.message)
        if isinstance(error, OSError):
            return cls(name, None, "unreadable", error.strerror or str(error))
        return cls(name, None, "internal_error", f"{type(error).__name__}: {error}")


def read_image(path: Path) -> bytes:
    """The file's bytes; refuses before reading a file too large to be classified."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ImageTooLargeError(f"the image is {size} bytes; the limit is {MAX_BYTES}")
    return path.read_bytes()


def predict_files(
    predictor: Predictor,
    files: Sequence[InputFile],
    batch_size: int = 32,
    progress: Callable[[int], object] | None = None,
    explain_dir: Path | None = None,
) -> Iterator[Result]:
    """One :class:`Result` per file, in order, running the model on whole batches; with
    ``explain_dir``, each verdict comes with its heatmap overlay written there."""
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        yield from predict_chunk(predictor, chunk, explain_dir)
        if progress is not None:
            progress(len(chunk))


def predict_chunk(
    predictor: Predictor,
    chunk: Sequence[InputFile],
    explain_dir: Path | None = None,
    read: Callable[[InputFile], bytes] = lambda item: read_image(item.path),
) -> list[Result]:
    """One model call for ``chunk``; ``read`` gets each file's bytes (the Ray engine
    passes one that reads object stores). Read errors become rows, as decode errors do,
    and anything else a read raises costs that file alone (an ``internal_error`` row)."""
    results: list[Result | None] = []
    readable: list[tuple[int, bytes]] = []
    for item in chunk:
        try:
            if item.error is not None:
                raise item.error
            readable.append((len(results), read(item)))
            results.append(None)
        except (InputError, OSError) as error:
            results.append(Result.failed(item.name, error))
        except Exception as error:  # a reader bug costs its file only, never the batch
            log.exception("reading %s failed", item.name)
            results.append(Result.failed(item.name, error))
    outcomes = _predict_bytes(predictor, [data for _, data in readable], explain_dir is not None)
    for (slot, _), outcome in zip(readable, outcomes, strict=True):
        name = chunk[slot].name
        if isinstance(outcome, Explanation):
            if explain_dir is not None:
                write_overlay(outcome, explain_dir, name)
            results[slot] = Result(name, outcome.prediction)
        elif isinstance(outcome, Prediction):
            results[slot] = Result(name, outcome)
        else:
            results[slot] = Result.failed(name, outcome)
    return [result for result in results if result is not None]


def _predict_bytes(
    predictor: Predictor, items: list[bytes], explain: bool = False
) -> Sequence[Prediction | Explanation | Exception]:
    """predict_bytes (or explain_bytes), retried one file at a time if the batch fails.

    Input errors already come back per file; anything else (an odd file that makes
    the decoder raise outside its usual errors, say) would otherwise take the whole
    batch, or the run, down with it.
    """

    def run(items: list[bytes]) -> Sequence[Prediction | Explanation | InputError]:
        return explain_bytes(predictor, items) if explain else predictor.predict_bytes(items)

    try:
        return list(run(items))
    except Exception as error:
        log.warning("a batch of %d failed (%s); retrying one file at a time", len(items), error)
        log.debug("batch failure", exc_info=True)
    outcomes: list[Prediction | Explanation | Exception] = []
    for data in items:
        try:
            outcomes.extend(run([data]))
        except DECODE_ERRORS as error:
            # What Pillow raises on a damaged file; the bytes were read fine.
            outcomes.append(CorruptImageError(f"the image is truncated or corrupt: {error}"))
        except Exception as error:
            outcomes.append(error)
    return outcomes
