"""The ``ai-detector`` command: classify images in bulk, or a few at a time.

    ai-detector predict --input_path photos/ --output_path predictions.csv [--recursive]
    ai-detector predict --input_path photos/ --output_path predictions.jsonl
    ai-detector predict photo.jpg other.png        # prints a table
    ai-detector predict photos/ -o predictions.csv --explain overlays/   # + one heatmap per file
    ai-detector explain photo.jpg --out heat.png   # one image: verdict and heatmap overlay
    ai-detector predict --engine ray photos/ --out results.parquet   # Ray Data (ray_batch)
    python -m ai_detector predict ...              # the same without the console script

In a folder, files are picked by image extension (.jpg, .png, .webp, .heic...); other
files are counted and ignored. Files named on the command line are always tried. A
file that cannot be read or decoded gets a row with its error and never stops the run.

Exit codes: 0 every file classified; 1 some file failed (see the error column);
2 usage error (no input, missing path, output exists without --overwrite, bad model).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from ai_detector.apps.batch import Inputs, Result, collect_inputs, predict_files
from ai_detector.apps.cli_explain import add_explain_parser, explain, explaining_predictor
from ai_detector.apps.results import (
    JSONL_SUFFIXES,
    WRITERS,
    atomic_output,
    format_table,
    output_problem,
)
from ai_detector.inference.predictor import Predictor

log = logging.getLogger("ai_detector.apps.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Reported as ``ai-detector predict: error: ...`` with exit code 2."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _spellings(name: str) -> tuple[str, str]:
    """``--input_path`` as the project spec writes it, ``--input-path`` as CLIs usually do."""
    return f"--{name}", f"--{name.replace('_', '-')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ai-detector",
        description="Tell real photos from AI-generated images and deepfakes.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    predict = commands.add_parser(
        "predict",
        help="classify image files or folders",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = predict.add_argument
    # A table of options reads better than ruff's one-argument-per-line layout.
    # fmt: off
    # Text, not Path: Path("s3://b/k") would fold the scheme's "//" (--engine ray takes URIs).
    add("paths", nargs="*", metavar="PATH", help="image files or folders")
    add("-i", *_spellings("input_path"), dest="input_paths", action="append",
        default=[], metavar="DIR", help="a folder (or file) to classify; may be repeated")
    add("-o", *_spellings("output_path"), "--out", metavar="FILE",
        help="write results here (CSV, or JSON lines for .jsonl); default: a table on stdout")
    add("--format", choices=("csv", "jsonl", "table"),
        help="output format (default: from the output file's extension, else table)")
    add("-r", "--recursive", action=argparse.BooleanOptionalAction, default=False,
        help="also classify images in subfolders")
    add("--overwrite", action="store_true", help="replace an existing output file")
    add("-b", *_spellings("batch_size"), type=_positive_int, default=32,
        help="images per model call (default: 32)")
    add("-t", "--threads", type=_positive_int, default=None,
        help="onnxruntime threads (default: $AI_DETECTOR_THREADS, else every core)")
    add("-m", *_spellings("model_dir"), type=Path, metavar="DIR",
        help="model directory (default: $AI_DETECTOR_MODEL_DIR, models/model, the packaged one)")
    add("--explain", type=Path, metavar="DIR",
        help="also write each file's heatmap overlay (PNG) into DIR (see `explain --help`)")
    add("--engine", choices=("local", "ray"), default="local",
        help="ray: Ray Data on this machine or $RAY_ADDRESS's cluster, to --out X.parquet")
    add("--actors", type=_positive_int, metavar="N",
        help="--engine ray: Predictor actors (default: the cluster's cores / --threads)")
    add("-q", "--quiet", action="store_true", help="no progress bar, warnings only")
    add("-v", "--verbose", action="store_true", help="debug logging")
    # fmt: on
    add_explain_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or argparse's own usage errors
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    if args.verbose:  # our debug lines, not Pillow's chunk-by-chunk ones
        logging.getLogger("ai_detector").setLevel(logging.DEBUG)
    try:
        with _exit_on_sigterm():
            return run_explain(args) if args.command == "explain" else predict(args)
    except UsageError as error:
        sys.stderr.write(f"ai-detector {args.command}: error: {error}\n")
        return EXIT_USAGE


def run_explain(args: argparse.Namespace) -> int:
    try:
        return explain(args)
    except (FileNotFoundError, ValueError) as error:  # no such file, a model without maps
        raise UsageError(str(error)) from error


def _check_local_output(args: argparse.Namespace) -> str:
    """The local engine's output format, after refusing what it cannot honour."""
    if args.actors is not None:  # silently ignored, it would look like it had worked
        raise UsageError("--actors is for --engine ray; the local engine runs one Predictor")
    args.output_path = None if args.output_path is None else Path(args.output_path)
    fmt = _output_format(args.format, args.output_path)
    if args.output_path is not None:
        if fmt == "table":
            raise UsageError("--format table prints to the terminal; drop --output_path")
        problem = output_problem(args.output_path, args.overwrite)
        if problem:
            raise UsageError(problem)
    return fmt


def predict(args: argparse.Namespace) -> int:
    if args.engine == "ray":
        return predict_with_ray(args)
    fmt = _check_local_output(args)
    paths = [Path(path) for path in (*args.input_paths, *args.paths)]
    if not paths:
        raise UsageError("give image files or --input_path DIR (see --help)")
    try:
        inputs = collect_inputs(paths, args.recursive)
        if args.explain is not None:
            args.explain.mkdir(parents=True, exist_ok=True)
            predictor = explaining_predictor(args.model_dir, args.threads)
        else:
            predictor = Predictor(args.model_dir, args.threads)
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from error
    _log_inputs(inputs)
    labels = predictor.metadata.labels
    show_bar = not args.quiet and sys.stderr.isatty()
    with _progress(len(inputs.files), show_bar) as advance:
        results = predict_files(
            predictor, inputs.files, args.batch_size, advance, explain_dir=args.explain
        )
        if fmt == "table":
            collected = list(results)
            sys.stdout.write(format_table(collected, labels))
            failed = _count_failed(collected, lambda result: None)
        elif args.output_path is None:
            failed = _write(results, fmt, sys.stdout, labels)
        else:
            with atomic_output(args.output_path, args.overwrite) as stream:
                failed = _write(results, fmt, stream, labels)
    done = len(inputs.files) - failed
    where = f"; wrote {args.output_path}" if args.output_path else ""
    log.info("%d classified, %d failed%s", done, failed, where)
    if failed and fmt != "table":
        log.warning("%d of %d files failed: see the error column", failed, len(inputs.files))
    return EXIT_FAILED if failed else EXIT_OK


def predict_with_ray(args: argparse.Namespace) -> int:
    from ai_detector.apps import ray_batch  # light; it imports Ray itself only when run

    try:
        job = ray_batch.plan(args)
    except (OSError, ValueError) as error:  # no Ray, a missing input, a bad --out
        raise UsageError(str(error)) from error
    return ray_batch.run(job)


def _output_format(chosen: str | None, output: Path | None) -> str:
    if chosen:
        return chosen
    if output is None:
        return "table"
    return "jsonl" if output.suffix.lower() in JSONL_SUFFIXES else "csv"


def _log_inputs(inputs: Inputs) -> None:
    notes = []
    if inputs.ignored:
        notes.append(f"{inputs.ignored} non-image files ignored")
    if inputs.unsearched:
        notes.append(f"{inputs.unsearched} subfolders not searched (add --recursive)")
    extra = f" ({'; '.join(notes)})" if notes else ""
    log.info("%d files to classify%s", len(inputs.files), extra)
    if not inputs.files:
        log.warning("no images found: check the input path and --recursive")


def _write(results: Iterable[Result], fmt: str, stream: IO[str], labels: Sequence[str]) -> int:
    writer = WRITERS[fmt](stream, labels)
    return _count_failed(results, writer.write)


def _count_failed(results: Iterable[Result], consume: Callable[[Result], None]) -> int:
    failed = 0
    for result in results:
        consume(result)
        if result.prediction is None:
            failed += 1
            log.debug("%s: %s", result.name, result.error_text)
    return failed


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[int], object]]:
    """tqdm on stderr when it is a terminal; tqdm is optional (the ``cli`` extra)."""
    try:
        # Imported here: tqdm comes with the `cli` extra, and the command works without it.
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm
    except ImportError:
        yield lambda done: None
        return
    # logging_redirect_tqdm puts log lines above the bar instead of tearing it.
    bar = tqdm(total=total, unit="img", disable=not enabled, file=sys.stderr)
    with bar, logging_redirect_tqdm():
        yield bar.update


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """`docker stop` sends SIGTERM: exit through Python so the partial output is removed."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
