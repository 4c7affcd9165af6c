"""Locust load test of ai-detector: POST images to /predictions/ai-detector, check every answer.

    locust --config loadtest/locust.conf                  # steady: 10 users x 5.1 req/s, 60 s
    locust --config loadtest/locust.conf --shape ramp     # rising steps until p95 breaks
    python -m loadtest.run                                # make loadtest: plus CPU and report

Each user sends at random times but at a fixed average rate (``--user-rate``), so the offered
load is users x user-rate whatever the latency, and users never fire in step (synchronised
bursts inflate the p95). 2% of requests are deliberately bad (1.9% not an image, 0.1% a
21 MiB body); they succeed when the server answers the expected 4xx JSON error. Images are
made once at start (photo-like JPEGs near 1024 px, small PNG and WebP) unless ``--images DIR``.
"""

from __future__ import annotations

import csv
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment

from ai_detector.contract import MODEL_NAME, auth_headers
from loadtest.checks import Check, check_verdict, expect_error
from loadtest.traffic import (
    NOT_AN_IMAGE,
    OVERSIZE,
    Pacer,
    Payload,
    file_payloads,
    synthetic_payloads,
)

log = logging.getLogger("loadtest")

PREDICT_PATH = f"/predictions/{MODEL_NAME}"
STEP_SETTLE_S = 3.0  # dropped at the start of each ramp step while users join

PAYLOADS: list[Payload] = []
# (start, epoch seconds; step; users; name; response ms; ok) of every request.
SAMPLES: list[tuple[float, int, int, str, float, bool]] = []
STATE: dict[str, Any] = {"t0": time.time(), "users": 0, "step_time": 0.0}


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    group = parser.add_argument_group("ai-detector load test")
    group.add_argument("--shape", choices=["steady", "ramp"], default="steady")
    group.add_argument("--user-rate", type=float, default=5.0, help="requests/s of each user")
    group.add_argument("--ramp-rates", default="30,50,70,90,110,130", help="req/s of each step")
    group.add_argument("--step-time", type=float, default=20.0, help="seconds per ramp step")
    group.add_argument("--p95-ms", type=float, default=150.0, help="ramp stops above this p95")
    group.add_argument("--images", default="", help="folder of real images (default: synthetic)")
    group.add_argument("--samples-file", default="", help="write each request's timing here")


@events.init.add_listener
def load_images(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    folder = Path(options.images) if options is not None and options.images else None
    PAYLOADS[:] = file_payloads(folder) if folder else synthetic_payloads()
    if not PAYLOADS:
        raise SystemExit(f"no images (*.jpg, *.png, ...) in {folder}")
    sizes = sorted(len(p.data) // 1024 for p in PAYLOADS)
    log.info("%d images ready, %d to %d KiB", len(PAYLOADS), sizes[0], sizes[-1])


@events.request.add_listener
def record(name: str, response_time: float, exception: Any, **kwargs: Any) -> None:
    start = kwargs.get("start_time") or time.time() - response_time / 1000
    step = int((start - STATE["t0"]) // STATE["step_time"]) if STATE["step_time"] else 0
    SAMPLES.append((start, step, STATE["users"], name, response_time, exception is None))


@events.quitting.add_listener
def write_samples(environment: Environment, **_: Any) -> None:
    path = environment.parsed_options.samples_file if environment.parsed_options else ""
    if path:
        with open(path, "w", newline="") as out:
            writer = csv.writer(out)
            # t: seconds since the load started, which is where ramp steps are counted from.
            writer.writerow(["start", "t", "step", "users", "name", "response_ms", "ok"])
            t0 = STATE["t0"]
            rows = (
                (f"{t:.3f}", f"{t - t0:.3f}", s, u, n, f"{r:.2f}", int(ok))
                for t, s, u, n, r, ok in SAMPLES
            )
            writer.writerows(rows)


class DetectorUser(FastHttpUser):
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.pacer = Pacer(options.user_rate if options is not None else 5.0)
        # Begin at a random point of the schedule so users spawned together are not in step.
        gevent.sleep(self.pacer.wait())

    def wait_time(self) -> float:
        return self.pacer.wait()

    @task(980)
    def classify(self) -> None:
        payload = random.choices(PAYLOADS, weights=[p.weight for p in PAYLOADS])[0]
        self._post(payload.data, f"classify {payload.kind}", payload.content_type, check_verdict)

    @task(19)
    def not_an_image(self) -> None:
        self._post(NOT_AN_IMAGE, "bad: not an image", "", expect_error(415, "not_an_image"))

    @task(1)
    def oversize(self) -> None:
        self._post(OVERSIZE, "bad: 21 MiB body", "", expect_error(413, "image_too_large"))

    def _post(self, body: bytes, name: str, content_type: str, check: Check) -> None:
        # $AI_DETECTOR_TOKEN when the server has token auth on (the Docker image).
        headers = {**auth_headers(), **({"Content-Type": content_type} if content_type else {})}
        data: Any = body  # typed as str in FastHttpSession, but bytes go out unchanged
        with self.client.post(
            PREDICT_PATH, data=data, headers=headers, name=name, catch_response=True
        ) as response:
            problem = check(response.status_code, response.text or "")
            if problem:
                response.failure(problem)
            else:  # Locust counts every 4xx as failed; here the expected 4xx is a success
                response.success()


class RateShape(LoadTestShape):
    """``--shape steady``: ``--users`` for ``--run-time``. ``--shape ramp``: one step per rate
    of ``--ramp-rates``, ``--step-time`` s each, ending after the first step whose p95 is over
    ``--p95-ms``. Rates become users at ``--user-rate`` requests/s each."""

    use_common_options = True

    def reset_time(self) -> None:
        super().reset_time()
        STATE["t0"] = time.time()

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return None
        elapsed = self.get_run_time()
        if options.shape == "steady":
            STATE["users"] = options.num_users
            if options.run_time and elapsed > options.run_time:
                return None
            return options.num_users, options.spawn_rate
        STATE["step_time"] = options.step_time
        rates = [float(r) for r in options.ramp_rates.split(",") if r.strip()]
        step = int(elapsed // options.step_time)
        if step >= len(rates) or (step > 0 and self.step_missed(step - 1, options)):
            return None
        STATE["users"] = max(1, math.ceil(rates[step] / options.user_rate - 1e-9))
        return STATE["users"], 100.0

    def step_missed(self, step: int, options: Any) -> bool:
        """Whether a finished step broke the p95 objective: higher rates would too."""
        if STATE.get("checked") == step:
            return False
        STATE["checked"] = step
        begin = STATE["t0"] + step * options.step_time + STEP_SETTLE_S
        times = sorted(s[4] for s in SAMPLES if s[1] == step and s[0] >= begin)
        p95 = times[math.ceil(0.95 * len(times)) - 1] if times else math.inf
        log.info("ramp step %d: %d requests, p95 %.0f ms", step, len(times), p95)
        return p95 > options.p95_ms
