"""Which split each record takes: the frozen split where the split file names the image, else drawn.

    from ai_detector.pipeline.data.splits import assign_splits
    records = assign_splits(records, params)        # the prepare stage does this

    python -m ai_detector.pipeline.data.splits data/prepared/records.csv configs/splits.csv

The command freezes the splits of a prepared dataset: it writes every record's sha256
and split to the split file (params.yaml ``prepare.splits``). A model is judged by its
test images, so they must stay where they are when a source is added, when a file joins
an old source, or when the drawing code changes; the split file keeps them there and
lets `dvc repro` rebuild the shipped model from the split it was trained on. Freeze again
only to re-split on purpose (then the model must be retrained).

Records the file does not name are drawn per (source, label) stratum: each stratum is
shuffled by its own generator, seeded by the seed, source and label, so no stratum's
draw depends on any other. (One generator shared in turn, as before 2026-12-08, moved
1,299 of 7,147 images of the other sources when two sources were added.) A source's own
test split stays test whatever the file says: a benchmark's test images are never
trained on.
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path

from ai_detector.pipeline.data.records import SPLITS, Record, read_records
from ai_detector.pipeline.params import PrepareParams

log = logging.getLogger(__name__)

FIELDS = ("sha256", "split")


def read_frozen(path: str | Path) -> dict[str, str]:
    """sha256 -> split from a split file; "" names no file (every split drawn)."""
    if not path:
        return {}
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"prepare.splits names {path}, which is not a file: write it with `make"
            ' freeze-splits`, or set prepare.splits to "" to draw every split'
        )
    with Path(path).open(newline="") as handle:
        frozen = {row["sha256"]: row["split"] for row in csv.DictReader(handle)}
    unknown = set(frozen.values()) - set(SPLITS)
    if unknown:
        raise ValueError(f"{path}: unknown split(s) {sorted(unknown)}; expected {SPLITS}")
    return frozen


def write_frozen(records: list[Record], path: Path) -> None:
    """Every record's split, sorted by sha256 so that a re-freeze diffs line by line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FIELDS)
        writer.writerows(sorted({(r.sha256, r.split) for r in records}))


def draw_splits(group: list[Record], seed: str, params: PrepareParams) -> list[Record]:
    """A stratum's records shuffled by their own generator and cut into test, val, train."""
    shuffled = sorted(group, key=lambda r: r.sha256)
    random.Random(seed).shuffle(shuffled)
    n_test = round(len(shuffled) * params.test_fraction)
    n_val = round(len(shuffled) * params.val_fraction)
    return [
        record.with_split("test" if i < n_test else "val" if i < n_test + n_val else "train")
        for i, record in enumerate(shuffled)
    ]


def assign_splits(
    records: list[Record], params: PrepareParams, frozen: Mapping[str, str] | None = None
) -> list[Record]:
    """Each record's split: the source's test split, else the frozen one, else drawn."""
    frozen = read_frozen(params.splits) if frozen is None else frozen
    result, strata = [], defaultdict(list)
    how: Counter[str] = Counter()
    for record in records:
        if record.source_split == "test":
            result.append(record.with_split("test"))
            how["the source's test split"] += 1
        elif record.sha256 in frozen:
            result.append(record.with_split(frozen[record.sha256]))
            how["frozen"] += 1
        else:
            strata[(record.source, record.label)].append(record)
            how["drawn"] += 1
    for (source, label), group in strata.items():
        result += draw_splits(group, f"{params.seed}/{source}/{label}", params)
    log.info("splits: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(how.items())))
    return sorted(result, key=lambda r: (r.split, r.source, r.label, r.path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=Path, help="a prepared records.csv")
    parser.add_argument("out", type=Path, help="the split file to write (configs/splits.csv)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    records = read_records(args.records)
    write_frozen(records, args.out)
    log.info("froze the splits of %d records into %s", len(records), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
