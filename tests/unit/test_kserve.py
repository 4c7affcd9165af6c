"""deploy/kserve/: the InferenceService and its TorchServe config agree with the project.

kubernetes-validate knows no CRDs, so the InferenceService's structure is checked here by
hand: what KServe's TorchServe predictor needs (apiVersion, kind, a ``pytorch`` predictor on
protocol v1 with a storageUri) and what must match the plain Deployment (name, image,
resources, probes, token setting, the HPA's bounds). Its config.properties is a second file
by necessity (KServe reads it from the model storage), so every setting it shares with the
project's config.properties, and every worker, batching and timeout value of its
model_snapshot, must equal the one source: a change there that is not made here fails
this test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ai_detector.contract import MODEL_NAME, read_properties
from ai_detector.serving.archive import ARCHIVE_VERSION

ROOT = Path(__file__).resolve().parents[2]
KSERVE = ROOT / "deploy" / "kserve"
MOUNT = "/mnt/models"  # where KServe puts the storageUri's contents
# Keys of config.properties the KServe copy sets otherwise (its config says why) ...
DIFFERENT = {"inference_address", "metrics_address", "model_store"}
# ... leaves out (the demo page's origin; models come from model_snapshot) ...
LEFT_OUT = {"cors_allowed_origin", "cors_allowed_methods", "load_models"}
# ... and adds (the model registration KServe's layout uses).
ADDED = {"model_snapshot"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def service() -> dict[str, Any]:
    return load(KSERVE / "inferenceservice.yaml")


@pytest.fixture(scope="module")
def container() -> dict[str, Any]:
    deployment = load(ROOT / "deploy" / "deployment.yaml")
    (first,) = deployment["spec"]["template"]["spec"]["containers"]
    return first


def option(args: list[str], name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in args if arg.startswith(f"{name}=")]
    return value


def test_an_inference_service_with_the_torchserve_predictor(service):
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    assert service["metadata"]["name"] == MODEL_NAME
    predictor = service["spec"]["predictor"]["pytorch"]
    assert predictor["protocolVersion"] == "v1"
    assert predictor["storageUri"].split("://")[0] in {"pvc", "s3", "gs"}
    # TorchServe reads KServe's layout below the mount.
    assert option(predictor["args"], "--ts-config") == f"{MOUNT}/config/config.properties"
    store = read_properties(KSERVE / "config.properties")["model_store"]
    assert option(predictor["args"], "--model-store") == store == f"{MOUNT}/model-store"
    assert {"--start", "--foreground"} <= set(predictor["args"])


def test_it_runs_like_the_deployment(service, container):
    predictor = service["spec"]["predictor"]["pytorch"]
    for kind in ("requests", "limits"):
        assert predictor["resources"][kind] == container["resources"][kind]
    assert predictor["env"] == container["env"]  # token auth off, for the same reason
    for probe in ("startupProbe", "readinessProbe"):
        assert predictor[probe] == container[probe]
    assert predictor["livenessProbe"]["httpGet"]["path"] == "/ping"
    assert predictor["securityContext"] == {
        k: v for k, v in container["securityContext"].items() if k != "readOnlyRootFilesystem"
    }
    # The image the kustomization gives the Deployment, and the HPA's bounds.
    (image,) = load(ROOT / "deploy" / "kustomization.yaml")["images"]
    assert predictor["image"] == f"{image['newName']}:{image['newTag']}"
    hpa = load(ROOT / "deploy" / "hpa.yaml")["spec"]
    spec = service["spec"]["predictor"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (hpa["minReplicas"], hpa["maxReplicas"])


def test_the_kserve_config_agrees_with_config_properties():
    project = read_properties(ROOT / "config.properties")
    kserve = read_properties(KSERVE / "config.properties")
    assert set(project) - set(kserve) == LEFT_OUT
    assert set(kserve) - set(project) == ADDED
    differ = {key for key in set(project) & set(kserve) if project[key] != kserve[key]}
    assert differ == DIFFERENT, f"deploy/kserve/config.properties drifted on {differ - DIFFERENT}"
    # Our handler speaks KServe v1; TorchServe's envelope would answer only the first
    # request of a batch (tests/integration/test_kserve_server.py).
    assert "service_envelope" not in kserve


def test_the_model_snapshot_names_the_archive_and_the_model_config_values():
    snapshot = json.loads(read_properties(KSERVE / "config.properties")["model_snapshot"])
    assert list(snapshot["models"]) == [MODEL_NAME]
    assert snapshot["modelCount"] == 1
    ((version, settings),) = snapshot["models"][MODEL_NAME].items()
    assert version == ARCHIVE_VERSION
    assert settings["marName"] == f"{MODEL_NAME}.mar"
    model_config = load(ROOT / "src" / "ai_detector" / "serving" / "model-config.yaml")
    shared = {k: v for k, v in model_config.items() if k != "handler"}
    assert {k: settings[k] for k in shared} == shared
