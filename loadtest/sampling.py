"""CPU and memory of the server's process tree and of Locust, once a second while Locust runs.

Used by loadtest/run.py (`make loadtest`): ``run_locust`` returns one row a second (each
from harness.processes.Sampler), which run.py writes to resources.csv and loadtest/report.py
summarises.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import psutil
from harness.processes import Sampler

log = logging.getLogger("loadtest")


def run_locust(command: list[str], server: psutil.Process, timeout: float, cwd: Path) -> list[dict]:
    """Run Locust to its end, sampling the server and Locust once a second."""
    locust = subprocess.Popen(command, cwd=cwd)
    samplers = {"server": Sampler(server), "locust": Sampler(psutil.Process(locust.pid))}
    psutil.cpu_percent(None)
    rows: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while locust.poll() is None and time.monotonic() < deadline:
            time.sleep(1.0)
            row: dict[str, float] = {"time": time.time()}
            machine = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
            for name, sampler in samplers.items():
                row[f"{name}_cpu"], row[f"{name}_rss_mb"], row[f"{name}_procs"] = sampler.sample()
            # Whatever else runs on the machine competes for the cores and slows the server.
            row["other_cpu"] = max(0.0, machine - row["server_cpu"] - row["locust_cpu"])
            rows.append(row)
    finally:
        if locust.poll() is None:
            log.error("Locust overran its time: stopping it")
            locust.terminate()
        if locust.wait(timeout=30) != 0:
            raise RuntimeError(f"Locust exited with status {locust.returncode}")
    return rows[1:]  # the first sample only primed the CPU counters
