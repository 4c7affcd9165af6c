"""What the load test's users send and when: the image mix, the bad requests and the pacing.

Imported by loadtest/locustfile.py (run by Locust, `make loadtest`): the images are made once
at start (photo-like JPEGs near 1024 px, small PNG and WebP) or read from ``--images DIR``;
each user's Pacer gives its send times.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from harness.images import encode, photo_like

from ai_detector.inference.formats import IMAGE_SUFFIXES

NOT_AN_IMAGE = b"plain text, not an image\n" * 8
# Over the handler's 20 MiB limit, under the frontend's 25 MiB: the answer is a JSON 413.
OVERSIZE = b"\xff\xd8\xff" + b"\0" * (21 * 1024 * 1024)
PACING_BLOCK = 10  # requests per pacing block (see Pacer)
MAX_LAG_S = 2.0


@dataclass(frozen=True)
class Payload:
    kind: str
    data: bytes
    content_type: str
    weight: float


class Pacer:
    """Arrival times of one user: blocks of PACING_BLOCK requests, each spread uniformly at
    random over PACING_BLOCK / rate seconds. Locally as irregular as Poisson arrivals, but
    the count per block is exact, so the measured rate does not drift below the target by
    chance. A user that falls more than MAX_LAG_S behind drops the backlog instead of
    firing it all at once."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.queue: deque[float] = deque()
        self.block_end = time.monotonic()

    def wait(self) -> float:
        now = time.monotonic()
        if self.queue and self.queue[0] < now - MAX_LAG_S:
            self.queue.clear()
            self.block_end = now
        if not self.queue:
            start, span = max(self.block_end, now - MAX_LAG_S), PACING_BLOCK / self.rate
            self.queue.extend(sorted(start + random.uniform(0, span) for _ in range(PACING_BLOCK)))
            self.block_end = start + span
        return max(0.0, self.queue.popleft() - now)


def synthetic_payloads() -> list[Payload]:
    """The default mix, weighted like uploads from phones and the web: mostly large JPEGs."""
    kinds = [
        ("jpeg 1024x768", "JPEG", (1024, 768), {"quality": 90}, 5),
        ("jpeg 768x1024", "JPEG", (768, 1024), {"quality": 80}, 2),
        ("png 320x240", "PNG", (320, 240), {}, 1),
        ("webp 640x480", "WEBP", (640, 480), {"quality": 80}, 1),
    ]
    payloads = []
    for index, (kind, fmt, size, options, weight) in enumerate(kinds):
        for seed in range(3):
            data = encode(photo_like(10 * index + seed, *size), fmt, **options)
            payloads.append(Payload(kind, data, f"image/{fmt.lower()}", weight / 3))
    return payloads


def file_payloads(folder: Path) -> list[Payload]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [Payload(f"file {p.suffix.lower()[1:]}", p.read_bytes(), "", 1.0) for p in files]
