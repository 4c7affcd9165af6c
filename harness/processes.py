"""The machine and the processes a measurement watches: the CPU's name, TorchServe's
processes, and the one sampler of a process tree's CPU and memory.

    from harness.processes import Sampler, cpu_name, server_processes
    print(cpu_name())                       # "Intel(R) Xeon(R) Processor, 2 cores"
    sampler = Sampler(psutil.Process(pid))  # sample() once a second: (CPU %, RSS MiB, count)
    with sampler.watching(0.1):             # or in a thread: sampler.peak_rss_mb after the block
        ...
    python -m harness.processes             # logs the CPU's name and flags
"""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from ai_detector.serving.torchserve import Server

log = logging.getLogger(__name__)


def cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The CPU's model name and its flags (empty where /proc/cpuinfo is not)."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    for line in path.read_text().splitlines() if path.is_file() else []:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
    return model, flags


def cpu_name() -> str:
    """The CPU model and the number of cores, to print beside every figure."""
    return f"{cpuinfo()[0]}, {psutil.cpu_count()} cores"


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


def server_processes(server: Server) -> tuple[psutil.Process | None, list[psutil.Process]]:
    """The Java frontend of this server (the one whose temp dir is the server's own) and
    its Python workers."""
    marker = f"-Djava.io.tmpdir={server.log_dir / 'tmp'}"
    for proc in psutil.process_iter(["cmdline"]):
        if marker in (proc.info["cmdline"] or []):
            workers = [
                child
                for child in proc.children(recursive=True)
                if "model_service_worker" in " ".join(child.cmdline())
            ]
            return proc, workers
    return None, []


class Sampler:
    """CPU and RSS of a process (with its children unless ``tree=False``), listed anew
    each time so restarted workers count; the highest RSS seen is kept."""

    def __init__(self, root: psutil.Process, tree: bool = True) -> None:
        self.root, self.tree = root, tree
        self.known: dict[int, psutil.Process] = {}
        self.peak_rss_mb = 0.0

    def sample(self) -> tuple[float, float, int]:
        """(CPU % of one core since the last call, RSS MiB, process count)."""
        cpu = rss = 0.0
        try:
            found = [self.root, *(self.root.children(recursive=True) if self.tree else [])]
        except psutil.Error:
            found = []
        for each in found:
            proc = self.known.setdefault(each.pid, each)  # cpu_percent needs the same object
            try:
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss / 2**20
            except psutil.Error:
                continue
        self.peak_rss_mb = max(self.peak_rss_mb, rss)
        return cpu, rss, len(found)

    @contextmanager
    def watching(self, interval: float) -> Iterator[Sampler]:
        """Sample every ``interval`` seconds in a thread while the block runs."""
        done = threading.Event()

        def loop() -> None:
            while not done.wait(interval):
                self.sample()

        thread = threading.Thread(target=loop, daemon=True)
        self.sample()
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("%s; flags: %s", cpu_name(), " ".join(sorted(cpuinfo()[1])))
