"""Results as files and as a table: CSV, JSON Lines, the terminal's aligned columns, and
the write that leaves no half-written file behind.

    with atomic_output(Path("predictions.csv")) as stream:
        writer = WRITERS["csv"](stream, predictor.metadata.labels)
        for result in predict_files(predictor, files):
            writer.write(result)

Used by ``ai-detector predict`` (ai_detector.apps.cli) and its Ray engine
(ai_detector.apps.ray_batch); the results come from ai_detector.apps.batch.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ai_detector.apps.batch import Result

JSONL_SUFFIXES = (".jsonl", ".ndjson")


# The provenance answer's fields that fit a CSV cell (ai_detector.inference.provenance).
PROVENANCE_FIELDS = ("source", "claims", "generator", "signed", "valid")


def _cell(value: object) -> str:
    return "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)


def result_columns(labels: Sequence[str]) -> list[str]:
    """path, label, confidence, prob_<label> for each model label, provenance_*, error."""
    probabilities = (f"prob_{label}" for label in labels)
    provenance = (f"provenance_{name}" for name in PROVENANCE_FIELDS)
    return ["path", "label", "confidence", *probabilities, *provenance, "error"]


def result_row(result: Result, labels: Sequence[str]) -> list[str | float | None]:
    """The values under :func:`result_columns`: numbers stay numbers, provenance is the
    cell's text, and None marks a blank (every verdict column of a failed file, the
    error of a classified one). The CSV and the Ray engine's parquet both write this."""
    found = result.prediction
    if found is None:
        blanks = (None for _ in (*labels, *PROVENANCE_FIELDS))
        return [result.name, None, None, *blanks, result.error_text]
    probabilities = [found.probabilities[label] for label in labels]
    stated = ((found.provenance or {}).get(name) for name in PROVENANCE_FIELDS)
    provenance = [None if value is None else _cell(value) for value in stated]
    return [result.name, found.label, found.confidence, *probabilities, *provenance, None]


class CsvWriter:
    """One CSV line per :func:`result_row`, under a :func:`result_columns` header."""

    def __init__(self, stream: IO[str], labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        self.writer = csv.writer(stream)
        self.writer.writerow(result_columns(self.labels))

    def write(self, result: Result) -> None:
        self.writer.writerow(_cell(value) for value in result_row(result, self.labels))


class JsonlWriter:
    """One JSON object a line: the server's answer plus ``path`` and ``error``."""

    def __init__(self, stream: IO[str], labels: Sequence[str]) -> None:
        self.stream = stream

    def write(self, result: Result) -> None:
        body: dict[str, object] = {"path": result.name}
        if result.prediction is not None:
            body.update(result.prediction.to_dict(), error=None)
        else:
            body["error"] = {"type": result.error_type, "message": result.error_message}
        self.stream.write(json.dumps(body, ensure_ascii=False) + "\n")


WRITERS: dict[str, type[CsvWriter] | type[JsonlWriter]] = {"csv": CsvWriter, "jsonl": JsonlWriter}


def output_problem(path: Path, overwrite: bool) -> str | None:
    """Why results cannot be written to ``path``, or None when they can."""
    if path.is_dir():
        return f"{path} is a folder; give a file name such as {path / 'predictions.csv'}"
    if path.exists() and not overwrite:
        return f"{path} already exists; pass --overwrite to replace it"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist"
    return None


@contextlib.contextmanager
def atomic_output(path: Path, overwrite: bool = False, binary: bool = False) -> Iterator[IO[Any]]:
    """A text (or ``binary``) stream that becomes ``path`` only when the block finishes
    without error."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    opened = (
        os.fdopen(handle, "wb") if binary else os.fdopen(handle, "w", newline="", encoding="utf-8")
    )
    try:
        with opened as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(temporary, 0o666 & ~_umask())
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} appeared while predicting; results not written")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def format_table(results: Sequence[Result], labels: Sequence[str]) -> str:
    """Aligned columns: path, label, confidence, one percentage per label, provenance, error."""
    header = ["path", "label", "confidence", *labels, "provenance", "error"]
    rows = [header]
    for result in results:
        found = result.prediction
        if found is None:
            rows.append([result.name, "-", "-", *("-" for _ in labels), "-", result.error_text])
        else:
            shares = [f"{found.probabilities[label]:.1%}" for label in labels]
            stated = provenance_summary(found.provenance)
            rows.append([result.name, found.label, f"{found.confidence:.1%}", *shares, stated, ""])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = (
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )
    return "".join(line.rstrip() + "\n" for line in lines)


def provenance_summary(provenance: dict[str, Any] | None) -> str:
    """'c2pa: ai-generated (signed, invalid)', 'iptc: ai-generated' or '-' for a table cell."""
    if not provenance or provenance.get("source") == "none":
        return "-"
    text = f"{provenance['source']}: {provenance.get('claims') or 'no claim'}"
    if provenance.get("signed") or provenance.get("valid") is not None:
        text += " (valid)" if provenance.get("valid") else " (invalid)"
    return text
