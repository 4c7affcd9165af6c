"""CPU and memory of the server's process tree and of Locust, once a second while Locust runs.

Used by loadtest/run.py (`make loadtest`): ``run_locust`` returns one row a second, which
run.py writes to resources.csv and loadtest/report.py summarises.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import psutil

log = logging.getLogger("loadtest")


def listener(port: int) -> psutil.Process:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    raise RuntimeError(f"no process of this user listens on port {port}")


def cpus_given(proc: psutil.Process) -> float:
    cpus = float(len(proc.cpu_affinity() or [0]))
    try:  # a cgroup v2 quota (containers) can give less than the visible cores
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        cpus = min(cpus, int(quota) / int(period)) if quota != "max" else cpus
    except (OSError, ValueError):
        pass
    return cpus


class Sampler:
    """CPU and RSS of a process tree, listed anew each time so restarted workers count."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.known: dict[int, psutil.Process] = {}

    def sample(self) -> tuple[float, float, int]:
        """(CPU % of one core since the last call, RSS MiB, process count)."""
        cpu = rss = 0.0
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for found in tree:
            proc = self.known.setdefault(found.pid, found)  # cpu_percent needs the same object
            try:
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss / 2**20
            except psutil.Error:
                continue
        return cpu, rss, len(tree)


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
