"""Start, wait for and stop a local TorchServe with the ai-detector archive.

    python -m ai_detector.serving.torchserve start [--config config.properties]
        [--model-store model_store]
    python -m ai_detector.serving.torchserve stop

Used by ``make serve``, the integration tests, the load test and the benchmark, so
all of them run the server the same way. ``start`` returns once the model answers
(workers loaded), not merely when the frontend is up.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ai_detector.contract import MODEL_NAME, read_properties, write_properties

log = logging.getLogger(__name__)

# The handler, model-config.yaml and log4j2.xml ship in this package as package data.
SERVE_DIR = Path(__file__).resolve().parent
# TorchServe's packaged log4j2.xml logs ~20 DEBUG lines per request, each twice; this
# one keeps the access log, warnings and the workers' output (measured: ~0.2 ms of
# frontend CPU per request less).
LOG_CONFIG = SERVE_DIR / "log4j2.xml"
# Written by TorchServe into its working directory (our log dir) when token auth is on.
KEY_FILE = "key_file.json"


def venv_tool(name: str) -> str:
    """A console script of this environment (beside the interpreter), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make setup`")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    inference_url: str
    management_url: str
    metrics_url: str
    model_name: str
    log_dir: Path

    @property
    def predict_url(self) -> str:
        return f"{self.inference_url}/predictions/{self.model_name}"

    @classmethod
    def from_config(cls, config: Path, model_name: str, log_dir: Path) -> Server:
        values = read_properties(config)
        return cls(
            values.get("inference_address", "http://127.0.0.1:8080"),
            values.get("management_address", "http://127.0.0.1:8081"),
            values.get("metrics_address", "http://127.0.0.1:8082"),
            model_name,
            log_dir,
        )

    def key(self, api: str) -> str | None:
        """The ``inference`` or ``management`` key when token auth is on, else None."""
        return read_keys(self.log_dir).get(api)

    def model_ready(self) -> bool:
        """True once every registered worker of the model is READY."""
        request = urllib.request.Request(f"{self.management_url}/models/{self.model_name}")
        key = self.key("management")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                workers = json.loads(response.read())[0].get("workers", [])
        except (OSError, ValueError, IndexError, urllib.error.URLError):
            return False
        return bool(workers) and all(w.get("status") == "READY" for w in workers)


def read_keys(log_dir: Path) -> dict[str, str]:
    """TorchServe's token-auth keys by API (``inference``, ``management``), from the
    key_file.json it writes into its working directory at start; {} with token auth off.
    TorchServe 0.12 makes new random keys at every start and cannot be given one.
    A file still being written (empty or cut short) reads as {}: `start` polls while
    TorchServe writes it, and the next poll reads it whole."""
    path = log_dir / KEY_FILE
    try:
        keys = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {api: keys[api]["key"] for api in ("inference", "management") if api in keys}


def loopback_config(base: Path, target: Path) -> Path:
    """A copy of ``base`` on free loopback ports, for tests and benchmarks."""
    values = read_properties(base)
    for key in ("inference_address", "management_address", "metrics_address"):
        values[key] = f"http://127.0.0.1:{free_port()}"
    # gRPC ports too: a second server on the default 7070/7071 would fail to start.
    for key in ("grpc_inference_port", "grpc_management_port"):
        values[key] = str(free_port())
    write_properties(values, target)
    return target


def _environment(log_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """TorchServe keeps its pid file in the temp dir: one temp dir per server lets a
    test server run beside `make serve` and lets `stop` find the right one."""
    temp = log_dir / "tmp"
    temp.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "TMPDIR": str(temp),
        "TEMP": str(temp),
        "LOG_LOCATION": str(log_dir),
        "METRICS_LOCATION": str(log_dir),
        **(extra or {}),
    }


def _frontend_alive(log_dir: Path) -> bool:
    """Whether the JVM whose pid TorchServe wrote into this server's temp dir still runs."""
    try:
        pid = int((log_dir / "tmp" / ".model_server.pid").read_text().split()[0])
        os.kill(pid, 0)
    except PermissionError:
        return True
    except (OSError, ValueError, IndexError):
        return False
    return True


def _failure_reason(log_dir: Path) -> str:
    """The last line of TorchServe's own output that names an error, else its last line."""
    for name in ("torchserve.out", "ts_log.log"):
        path = log_dir / name
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        lines = [line.strip() for line in lines if line.strip()]
        named = [line for line in lines if "rror" in line or "xception" in line]
        if named or lines:
            return (named or lines)[-1][:300]
    return "nothing was logged"


def start(
    config: Path,
    model_store: Path,
    model_name: str,
    log_dir: Path,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> Server:
    """Start TorchServe in the background and wait until the model answers."""
    if shutil.which("java") is None:
        raise RuntimeError("TorchServe needs Java 17 or newer on PATH")
    log_dir.mkdir(parents=True, exist_ok=True)
    # A key file of an earlier run holds keys this server will not know.
    (log_dir / KEY_FILE).unlink(missing_ok=True)
    server = Server.from_config(config, model_name, log_dir)
    command = [
        venv_tool("torchserve"),
        "--start",
        "--ncs",
        # Token auth as the config (or TS_DISABLE_TOKEN_AUTHORIZATION) says: off in the
        # loopback config.properties, on in the Docker image.
        "--ts-config",
        str(config),
        "--model-store",
        str(model_store),
        "--models",
        f"{model_name}={model_name}.mar",
    ]
    if LOG_CONFIG.is_file():
        command += ["--log-config", str(LOG_CONFIG)]
    # The server outlives this call: give it a file, not our stdout/stderr, or a caller
    # reading our output through a pipe (`make serve | tee`) would wait for it forever.
    with (log_dir / "torchserve.out").open("ab") as output:
        launched = subprocess.run(
            command,
            check=False,
            env=_environment(log_dir, env),
            cwd=log_dir,
            stdout=output,
            stderr=output,
            stdin=subprocess.DEVNULL,
        )
    if launched.returncode != 0:
        raise RuntimeError(
            f"TorchServe did not start: {_failure_reason(log_dir)} (see {log_dir}/torchserve.out)"
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.model_ready():
            log.info("TorchServe ready: %s", server.predict_url)
            return server
        # Fail at once when the JVM has exited (a port in use, a bad config), not after
        # the whole timeout.
        if not _frontend_alive(log_dir):
            raise RuntimeError(
                f"TorchServe exited while starting: {_failure_reason(log_dir)} "
                f"(logs in {log_dir}; is {server.inference_url} already in use?)"
            )
        time.sleep(0.5)
    stop(log_dir)
    raise TimeoutError(
        f"TorchServe did not become ready in {timeout:.0f}s; see {log_dir}/ts_log.log"
    )


def stop(log_dir: Path) -> None:
    subprocess.run(
        [venv_tool("torchserve"), "--stop"],
        check=False,
        env=_environment(log_dir),
        cwd=log_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--config", type=Path, default=Path("config.properties"))
    parser.add_argument("--model-store", type=Path, default=Path("model_store"))
    parser.add_argument("--name", default=MODEL_NAME)
    parser.add_argument("--logs", type=Path, default=Path("logs"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.action == "stop":
        stop(args.logs.resolve())
        return 0
    running = Server.from_config(args.config, args.name, args.logs.resolve())
    if running.model_ready():
        log.info("TorchServe is already serving %s (make stop stops it)", running.predict_url)
        return 0
    try:
        server = start(
            args.config.resolve(), args.model_store.resolve(), args.name, args.logs.resolve()
        )
    except (RuntimeError, TimeoutError) as error:
        log.error("%s", error)  # one line, no traceback: what failed and where to look
        return 1
    log.info("Try it:\n  curl -X POST %s -T photo.jpg", server.predict_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
