"""Serve the demo page (src/ai_detector/apps/static/demo.html) on 127.0.0.1.

    make demo                                   # TorchServe (started if needed) + this page
    python -m ai_detector.apps.demo [--config config.properties]

The page is one static file that calls TorchServe's REST API from the browser. Both
addresses come from TorchServe's config, so they are set in one place: the page is
served at the origin ``cors_allowed_origin`` names (the only origin TorchServe lets
browsers read answers from) and calls ``inference_address``. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from ai_detector.contract import read_properties

log = logging.getLogger(__name__)

PAGE = Path(__file__).parent / "static" / "demo.html"


class PageHandler(BaseHTTPRequestHandler):
    """Answers GET / with the page and nothing else."""

    def do_GET(self) -> None:
        if urlsplit(self.path).path not in ("/", "/index.html"):
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body = PAGE.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def start_page_server(port: int) -> ThreadingHTTPServer:
    """The page server on 127.0.0.1:``port`` (0: a free port), answering in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), PageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def addresses(config: Path) -> tuple[int, str]:
    """The page's port (from ``cors_allowed_origin``) and the API it calls."""
    values = read_properties(config)
    origin = urlsplit(values.get("cors_allowed_origin", ""))
    if origin.hostname != "127.0.0.1" or origin.port is None:
        raise ValueError(
            f"{config}: cors_allowed_origin must name the demo's origin, "
            f"http://127.0.0.1:PORT, not {values.get('cors_allowed_origin')!r}"
        )
    return origin.port, values.get("inference_address", "http://127.0.0.1:8080")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=Path("config.properties"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    port, api = addresses(args.config)
    server = start_page_server(port)
    log.info("Demo page: http://127.0.0.1:%d/?api=%s  (Ctrl-C stops it)", port, api)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
