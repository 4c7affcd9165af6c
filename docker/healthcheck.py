"""Docker HEALTHCHECK for the TorchServe image: exit 0 when GET /ping answers 200.

    python /usr/local/bin/healthcheck.py [URL]    # default http://127.0.0.1:8080/ping

TorchServe answers 200 "Healthy" only once every model has its minimum number of
workers, so this fails while the model is loading or after its workers died. With
token auth turned on, /ping needs the inference key too: it is read from the key
file TorchServe writes into its working directory. Standard library only, so the
image needs no curl.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

KEY_FILE = Path("/home/model-server/key_file.json")


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8080/ping"
    request = urllib.request.Request(url)
    if KEY_FILE.is_file():
        key = json.loads(KEY_FILE.read_text())["inference"]["key"]
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (OSError, urllib.error.URLError) as error:
        sys.stderr.write(f"unhealthy: {error}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
