"""``ai-detector predict --engine ray``: the batch CLI's rows, computed by Ray Data.

    ai-detector predict --engine ray photos/ --out results.parquet
    ai-detector predict --engine ray s3://bucket/images/ --out results.parquet --recursive
    ai-detector predict --engine ray paths.parquet --out results.parquet   # a `path` column
    RAY_ADDRESS=10.0.0.5:6379 ai-detector predict --engine ray ...   # join a running cluster

Needs the ``ray`` extra (``pip install 'ai-detector[ray]'``). Without ``RAY_ADDRESS`` Ray
starts on this machine with every core; with it (a Ray Job's driver, as in the KubeRay
RayJob deploy/rayjob.yaml, has it set), ``ray.init()`` joins that cluster.

The driver lists the files (a folder by the CLI's suffix rules, a ``scheme://`` prefix
through pyarrow's filesystems, or a parquet of paths) into a dataset of names. An actor
pool runs :class:`ScoreBatch` over it with ``map_batches``: each actor holds one Predictor
with ``--threads`` onnxruntime threads (default 1, so actors x threads = cores) and reads
and scores a batch with the CLI's own :func:`~ai_detector.apps.batch.predict_chunk`, so a
file that cannot be read or decoded becomes a row with its error, never a failed job.
Rows are :func:`~ai_detector.apps.results.result_row` (the CSV's columns), streamed into
one parquet file that replaces ``--out`` only at the end. Ray Data's progress bars show
progress on stderr (``--quiet`` turns them off). Row order is not kept: join on ``path``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ai_detector.apps.batch import InputFile, Result, predict_chunk
from ai_detector.apps.ray_inputs import FileReader, input_file, list_files
from ai_detector.apps.results import atomic_output, output_problem, result_columns, result_row
from ai_detector.inference.metadata import ModelMetadata
from ai_detector.inference.predictor import Predictor, resolve_model_dir

log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray engine needs Ray: pip install 'ai-detector[ray]'"


def import_ray() -> Any:
    """The ray module with Ray Data, or ValueError naming the extra to install."""
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise ValueError(f"{INSTALL_HINT} ({error})") from error
    return ray


@dataclass
class RayJob:
    files: list[InputFile]
    out: str
    labels: tuple[str, ...]
    model_dir: str | None
    threads: int
    batch_size: int
    actors: int | None
    overwrite: bool = False
    quiet: bool = False
    failed_early: list[Result] = field(default_factory=list)  # folders that cannot be listed


def plan(args: argparse.Namespace) -> RayJob:
    """Check the command line and list the inputs; ValueError/OSError are usage errors."""
    import_ray()
    out = args.output_path
    if out is None or not str(out).endswith(".parquet"):
        raise ValueError("--engine ray writes parquet: give --out RESULTS.parquet")
    if args.explain is not None or args.format is not None:
        raise ValueError("--engine ray writes parquet only, without --explain")
    if problem := (
        object_output_problem(out, args.overwrite)
        if "://" in out
        else output_problem(Path(out), args.overwrite)
    ):
        raise ValueError(problem)
    sources = [*args.input_paths, *args.paths]
    if not sources:
        raise ValueError("give a folder, a scheme:// prefix or a parquet of paths (see --help)")
    files = list_files(sources, args.recursive)
    model_dir = str(args.model_dir) if args.model_dir else None
    labels = ModelMetadata.load(resolve_model_dir(model_dir)).labels
    early = [Result.failed(item.name, item.error) for item in files if item.error]
    todo = [item for item in files if not item.error]
    log.info("%d files to classify with Ray", len(todo) + len(early))
    threads, actors = args.threads or 1, args.actors
    return RayJob(todo, out, labels, model_dir, threads, args.batch_size, actors,
                  args.overwrite, args.quiet, early)  # fmt: skip


class ScoreBatch:
    """One Ray actor: one Predictor, called by ``map_batches`` on batches of files."""

    def __init__(self, model_dir: str | None, threads: int, labels: Sequence[str]) -> None:
        self.predictor = Predictor(model_dir, threads)
        self.labels = tuple(labels)
        self.read = FileReader()

    def __call__(self, batch: dict[str, Any]) -> Any:
        files = [
            input_file(str(location), str(name))
            for location, name in zip(batch["location"], batch["name"], strict=True)
        ]
        # predict_chunk keeps every failure, reading or scoring, to its own file's row.
        return results_table(predict_chunk(self.predictor, files, read=self.read), self.labels)


def results_table(results: Sequence[Result], labels: Sequence[str]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist(
        [dict(zip(result_columns(labels), result_row(r, labels), strict=True)) for r in results],
        schema=output_schema(labels),
    )


def output_schema(labels: Sequence[str]) -> Any:
    import pyarrow as pa

    numbers = {"confidence", *(f"prob_{label}" for label in labels)}
    return pa.schema(
        [(c, pa.float64() if c in numbers else pa.string()) for c in result_columns(labels)]
    )


def run(job: RayJob) -> int:
    """Score every file into ``job.out``: 0 when all were classified, 1 when some failed."""
    ray = import_ray()
    started_here = not ray.is_initialized()  # a caller's session (the tests') is reused
    if started_here:
        start_ray(ray)
    try:
        total, failed = _write(ray, job)
    finally:
        if started_here:
            ray.shutdown()
    log.info("%d classified, %d failed; wrote %s", total - failed, failed, job.out)
    if failed:
        log.warning("%d of %d files failed: see the error column", failed, total)
    return 1 if failed else 0


def start_ray(ray: Any) -> None:
    if os.environ.get("RAY_ADDRESS"):  # ray.init() joins that cluster, with its resources
        ray.init(logging_level=logging.WARNING)
    else:
        cores = os.cpu_count() or 1
        ray.init(num_cpus=cores, include_dashboard=False, logging_level=logging.WARNING)


def _write(ray: Any, job: RayJob) -> tuple[int, int]:
    import pyarrow.parquet as pq

    ray.data.DataContext.get_current().enable_progress_bars = not job.quiet
    if job.quiet:  # Ray Data logs each run's plan at INFO on its own logger
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    total = failed = 0
    with _parquet_sink(job.out, job.overwrite) as sink:
        writer = pq.ParquetWriter(sink, output_schema(job.labels))
        early = [results_table(job.failed_early, job.labels)] if job.failed_early else []
        for table in itertools.chain(early, _scored(ray, job)):  # streamed, batch by batch
            writer.write_table(table)
            total += table.num_rows
            failed += table.num_rows - table.column("error").null_count
        writer.close()
    return total, failed


def _scored(ray: Any, job: RayJob) -> Any:
    if not job.files:
        log.warning("no images found: check the input path and --recursive")
        return iter(())
    # Actors x threads fill the cluster's cores (this machine's in local mode).
    cores = int(ray.cluster_resources().get("CPU", 1))
    actors = job.actors or max(1, cores // job.threads)
    # Absolute: a Ray worker's working directory is not the driver's.
    rows = [{"location": getattr(item, "uri", "") or os.path.abspath(item.path),
             "name": item.name} for item in job.files]  # fmt: skip
    blocks = min(len(rows), max(actors, math.ceil(len(rows) / job.batch_size)))
    log.info("%d actors x %d threads, batches of %d", actors, job.threads, job.batch_size)
    dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        ScoreBatch,
        fn_constructor_kwargs={
            "model_dir": job.model_dir,
            "threads": job.threads,
            "labels": job.labels,
        },
        batch_size=job.batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=job.threads,
        batch_format="numpy",
    )
    return dataset.iter_batches(batch_size=None, batch_format="pyarrow")


@contextlib.contextmanager
def _parquet_sink(out: str, overwrite: bool) -> Iterator[Any]:
    """A local file appears whole at the end (the CLI's atomic_output); an object store
    write is whole by itself (an upload becomes visible once finished)."""
    if "://" not in out:
        with atomic_output(Path(out), overwrite, binary=True) as stream:
            yield stream
        return
    from pyarrow import fs

    if problem := object_output_problem(out, overwrite):  # checked again: it may have appeared
        raise FileExistsError(problem)
    filesystem, path = fs.FileSystem.from_uri(out)
    with filesystem.open_output_stream(path) as stream:
        yield stream


def object_output_problem(out: str, overwrite: bool) -> str | None:
    """The CLI's rule for an object-store --out: not replaced without --overwrite."""
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(out)
    if filesystem.get_file_info(path).type != fs.FileType.NotFound and not overwrite:
        return f"{out} already exists; pass --overwrite to replace it"
    return None
