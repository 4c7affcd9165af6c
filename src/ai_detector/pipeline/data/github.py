"""Files of a public GitHub repository at one commit, as a data source (``layout: github``).

A source names the repository (``path: owner/name``), the ``commit`` and, per source
class, the files it takes (``files: {fake: [cases/1/a.png, "images/*/output.jpg"]}``,
globs). ``dvc repro`` fetches them again from that record: a bare, blob-less
clone of ``https://github.com/owner/name`` into the cache, or, where GitHub cannot be
reached, a local bare copy found under ``$AI_DETECTOR_GIT_MIRRORS/owner+name/repo`` (or
``.../owner+name``). Only the named blobs are read, at that commit, so a later push to
the repository changes nothing.

With ``normalise: {long_side: 512, jpeg_quality: 90}`` every file of the source, of
either class, is decoded, flattened, shrunk to that long side and saved as JPEG at that
quality: the same chain for both classes, so neither the format nor the size that the
repository happened to use for a class tells the label.

    from ai_detector.pipeline.data.github import fetch_files
    fetch_files("madebyollin/taesd", "5cccb12...", ["taef2_encoder.pth"], Path("data/cache"))
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from ai_detector.inference.errors import InputError
from ai_detector.inference.formats import IMAGE_SUFFIXES
from ai_detector.inference.preprocess import decode_image
from ai_detector.pipeline.data.encoding import jpeg_bytes, to_long_side
from ai_detector.pipeline.data.records import Record, sha256_file
from ai_detector.pipeline.data.source_config import SourceConfig, SourceError, label_for

MIRRORS_ENV = "AI_DETECTOR_GIT_MIRRORS"

log = logging.getLogger(__name__)


def _git(git_dir: Path | None, *args: str, stdin: bytes | None = None) -> bytes:
    command = ["git", *(["--git-dir", str(git_dir)] if git_dir else []), *args]
    result = subprocess.run(command, input=stdin, capture_output=True, check=False)
    if result.returncode:
        raise SourceError(f"{' '.join(command)} failed: {result.stderr.decode().strip()}")
    return result.stdout


def repository(repo: str, cache_dir: Path) -> Path:
    """A bare git directory holding ``repo`` (``owner/name``): a local mirror, or a clone."""
    key = repo.replace("/", "+")
    if mirrors := os.environ.get(MIRRORS_ENV):
        for candidate in (Path(mirrors) / key / "repo", Path(mirrors) / key):
            if (candidate / "HEAD").is_file():
                return candidate
    clone = cache_dir / "git" / f"{key}.git"
    if not (clone / "HEAD").is_file():
        log.info("cloning https://github.com/%s (blobs fetched on demand)", repo)
        clone.parent.mkdir(parents=True, exist_ok=True)
        _git(
            None, "clone", "--bare", "--filter=blob:none", f"https://github.com/{repo}", str(clone)
        )
    return clone


def list_files(git_dir: Path, commit: str, patterns: list[str]) -> list[str]:
    """The files at ``commit`` matching any of ``patterns`` (shell globs whose ``*`` also
    matches ``/``, as fnmatch), sorted."""
    names = _git(git_dir, "ls-tree", "-r", "-z", "--name-only", commit).decode().split("\0")
    return sorted(n for n in names if n and any(fnmatch.fnmatchcase(n, p) for p in patterns))


def read_blob(git_dir: Path, commit: str, name: str) -> bytes:
    return _git(git_dir, "cat-file", "blob", f"{commit}:{name}")


def fetch_files(repo: str, commit: str, names: list[str], cache_dir: Path) -> list[Path]:
    """``names`` of ``repo`` at ``commit`` as files under ``cache_dir`` (written once)."""
    git_dir = repository(repo, cache_dir)
    target = cache_dir / "github" / repo.replace("/", "+") / commit
    paths = []
    for name in names:
        path = target / name
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(read_blob(git_dir, commit, name))
        paths.append(path)
    return paths


def normalised(data: bytes, long_side: int, jpeg_quality: int) -> bytes:
    """``data`` decoded upright, flattened to RGB, shrunk to ``long_side`` and saved as JPEG."""
    return jpeg_bytes(to_long_side(decode_image(data), long_side, enlarge=False), jpeg_quality)


def read_github(config: SourceConfig, cache_dir: Path) -> Iterator[Record]:
    """The source's records; with ``normalise`` each file is stored once, re-encoded."""
    if not config.commit or not config.files:
        raise SourceError(f"source {config.name}: layout github needs 'commit' and 'files'")
    git_dir = repository(config.path, cache_dir)
    for raw_class, patterns in sorted(config.files.items()):
        label = label_for(config, raw_class, f"{config.path}@{config.commit[:12]}")
        names = [
            n
            for n in list_files(git_dir, config.commit, patterns)
            if Path(n).suffix.lower() in IMAGE_SUFFIXES
        ]
        if not names:
            raise SourceError(
                f"source {config.name}: no image at {config.commit[:12]} matches {patterns}"
            )
        for name in names:
            yield _record(config, git_dir, name, label, cache_dir)


def _record(config: SourceConfig, git_dir: Path, name: str, label: str, cache_dir: Path) -> Record:
    if not config.normalise:
        [path] = fetch_files(config.path, config.commit, [name], cache_dir)
        return Record(str(path), label, config.name, sha256_file(path))
    # Named by the blob's path, so a cached file is reused without reading the blob again.
    stem = hashlib.sha256(f"{config.commit}:{name}".encode()).hexdigest()[:20]
    path = cache_dir / "normalised" / config.name / f"{stem}.jpg"
    if not path.is_file():
        data = read_blob(git_dir, config.commit, name)
        try:
            encoded = normalised(data, **config.normalise)
        except InputError as error:  # kept as it was: prepare's check reports and skips it
            log.warning("source %s: %s could not be normalised: %s", config.name, name, error)
            encoded = data
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encoded)
    return Record(str(path), label, config.name, sha256_file(path))
