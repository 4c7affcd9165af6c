"""Slow clients against TorchServe: idle connections and stalled large uploads, and the
frontend JVM's memory before, at its peak and after.

    python -m loadtest.slow_clients                        # 400 idle, 60 uploads of 24 MiB, 20 s
    python -m loadtest.slow_clients --uploads 120 --hold 30
    python -m loadtest.slow_clients --vmargs ""            # the JVM without our limits (before)

It starts TorchServe with the served model on free 127.0.0.1 ports (config.properties,
optionally with other ``vmargs``), then opens --connections TCP connections that send
nothing and --uploads POSTs that announce a body just under max_request_size, send
--upload-mib of it and stall. Everything is held --hold seconds (at most 120), during which
a real prediction goes out every 2 s; then every client closes, and after --settle seconds another
prediction is sent. Printed: the JVM's RSS (idle, peak, after), what became of the idle
connections and uploads (still held at the end, closed or answered by the server), the
predictions, whether the JVM survived and the frontend's complaints in ts_log.log; the CPU
is named with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests
from harness.processes import Sampler, cpu_name, server_processes
from harness.servers import ROOT, archive, local_torchserve

from ai_detector.contract import read_properties

# Run as a script, loadtest/ is first on the path; the loadtest package needs the root.
from ai_detector.inference.predictor import resolve_model_dir
from ai_detector.serving.torchserve import Server
from loadtest.traffic import synthetic_payloads

log = logging.getLogger("loadtest")

MAX_CONNECTIONS, MAX_UPLOADS, MAX_HOLD_S = 2000, 200, 120.0
PREDICT_TIMEOUT_S = 10.0
CHUNK = b"\0" * 2**20


async def fate(reader: asyncio.StreamReader, until: float) -> str:
    """What the server did with a connection by ``until``: nothing, closed it, or answered."""
    try:
        data = await asyncio.wait_for(reader.read(64), timeout=max(0.0, until - time.monotonic()))
    except TimeoutError:
        return "held"
    except ConnectionError:
        return "reset"
    return f"answered {data.split(b' ')[1].decode()}" if data.startswith(b"HTTP/") else "closed"


async def idle_connection(host: str, port: int, until: float) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        return await fate(reader, until)
    finally:
        writer.close()


async def stalled_upload(
    host: str, port: int, path: str, body: int, sent: int, until: float
) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {body}\r\n\r\n"
    )
    try:
        writer.write(head.encode())
        for _ in range(sent // len(CHUNK)):
            writer.write(CHUNK)
            await writer.drain()
    except ConnectionError:
        writer.close()
        return "reset while sending"
    try:
        return await fate(reader, until)
    finally:
        writer.close()


def predict(server: Server, body: bytes, timeout: float = 30.0) -> str:
    began = time.perf_counter()
    try:
        status = requests.post(server.predict_url, data=body, timeout=timeout).status_code
    except requests.RequestException as error:
        return f"no answer ({type(error).__name__})"
    return f"{status} in {1000 * (time.perf_counter() - began):.0f} ms"


async def predict_every(server: Server, body: bytes, period: float, until: float) -> list[str]:
    """A real prediction every ``period`` seconds while the slow clients are held."""
    answers = []
    while time.monotonic() + period < until:
        await asyncio.sleep(period)
        answers.append(await asyncio.to_thread(predict, server, body, PREDICT_TIMEOUT_S))
    return answers


def frontend_complaints(log_dir: Path) -> Counter[str]:
    """The frontend's WARN/ERROR lines in ts_log.log, counted by message (first 100 chars;
    the exception's line when the message itself is empty)."""
    path = log_dir / "ts_log.log"
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    found = Counter[str]()
    for index, line in enumerate(lines):
        if "[ERROR" in line or "[WARN" in line:
            message = line.split(" - ", 1)[-1].strip()
            if not message and index + 1 < len(lines):
                message = lines[index + 1].strip()
            found[message[:100]] += 1
    return found


@dataclass
class Seen:
    idle: Counter[str]
    uploads: Counter[str]
    during: list[str]


async def attack(server: Server, args: argparse.Namespace, body: bytes) -> Seen:
    """Holds the idle connections and stalled uploads; a prediction every 2 s meanwhile."""
    address = urlsplit(server.inference_url)
    host, port = str(address.hostname), int(address.port or 80)
    limit = int(read_properties(ROOT / "config.properties")["max_request_size"])
    path, sent = urlsplit(server.predict_url).path, int(args.upload_mib * 2**20)
    until = time.monotonic() + args.hold
    idle = [idle_connection(host, port, until) for _ in range(args.connections)]
    uploads = [
        stalled_upload(host, port, path, limit - 1, sent, until) for _ in range(args.uploads)
    ]
    idle_fates, upload_fates, during = await asyncio.gather(
        asyncio.gather(*idle), asyncio.gather(*uploads), predict_every(server, body, 2.0, until)
    )
    return Seen(Counter(idle_fates), Counter(upload_fates), during)


def mib(value: int) -> str:
    return f"{value / 2**20:.0f} MiB"


def run(args: argparse.Namespace, work: Path) -> None:
    overrides = {} if args.vmargs is None else {"vmargs": args.vmargs}
    body = synthetic_payloads()[0].data
    store = archive(resolve_model_dir(None), work / "store")
    with local_torchserve(store, work, overrides, timeout=180) as server:
        jvm, _ = server_processes(server)
        if jvm is None:
            raise RuntimeError(f"no TorchServe JVM for {server.log_dir}")
        predict(server, body)  # warm: the first answer loads lazily initialised parts
        idle_rss = jvm.memory_info().rss
        sampler = Sampler(jvm, tree=False)  # the JVM alone: its heap is what is at stake
        with sampler.watching(0.1):
            seen = asyncio.run(attack(server, args, body))
            time.sleep(args.settle)
        alive = jvm.is_running() and jvm.status() != psutil.STATUS_ZOMBIE
        after_rss = jvm.memory_info().rss if alive else 0
        after = predict(server, body)
        complaints = frontend_complaints(server.log_dir)
    vmargs = overrides.get("vmargs", read_properties(ROOT / "config.properties")["vmargs"])
    print(f"CPU: {cpu_name()}")
    print(f"vmargs: {vmargs!r}")
    print(
        f"{args.connections} idle connections, {args.uploads} uploads stalled after "
        f"{args.upload_mib} MiB, held {args.hold:.0f} s, then {args.settle:.0f} s to settle"
    )
    peak = int(sampler.peak_rss_mb * 2**20)
    print(f"JVM RSS: idle {mib(idle_rss)}, peak {mib(peak)}, after {mib(after_rss)}")
    print(f"JVM alive after: {alive}")
    print(f"idle connections at the end of the hold: {dict(seen.idle)}")
    print(f"stalled uploads at the end of the hold: {dict(seen.uploads)}")
    print(f"predictions every 2 s during the hold: {', '.join(seen.during)}")
    print(f"a prediction after: {after}")
    for message, count in complaints.most_common(5):
        print(f"frontend log, {count}x: {message}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=400)
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--upload-mib", type=float, default=24.0)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--vmargs", help='JVM options instead of config.properties\' ("": none)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.connections = min(args.connections, MAX_CONNECTIONS)
    args.uploads = min(args.uploads, MAX_UPLOADS)
    args.hold = min(args.hold, MAX_HOLD_S)
    with tempfile.TemporaryDirectory(prefix="slow-clients-") as work:
        run(args, Path(work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
