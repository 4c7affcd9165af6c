"""The four parts and their one-way dependencies (docs/architecture.md draws them).

- inference imports nothing of pipeline, serving or apps, and never torch (or timm);
- nothing outside pipeline imports pipeline;
- importing the whole inference part, or ``from ai_detector import Predictor``, leaves
  torch out of the process (checked in a fresh interpreter, so nothing this test run
  imported before can hide it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.imports import all_modules, imports

INFERENCE = all_modules("ai_detector.inference")
HEAVY = ("torch", "torchvision", "timm")


def top(name: str, depth: int) -> str:
    return ".".join(name.split(".")[:depth])


@pytest.mark.parametrize("module", INFERENCE)
def test_inference_depends_on_nothing_but_itself_and_light_libraries(module):
    found = imports(module)
    outward = sorted(
        name
        for name in found
        if name.startswith("ai_detector.")
        and top(name, 2) not in ("ai_detector.inference", "ai_detector.__future__")
    )
    heavy = sorted(name for name in found if top(name, 1) in HEAVY)
    assert outward == [] and heavy == [], f"{module} imports {outward + heavy}"


def test_nothing_outside_the_pipeline_imports_it():
    offenders = {
        module: sorted(n for n in imports(module) if n.startswith("ai_detector.pipeline"))
        for module in all_modules()
        if not module.startswith("ai_detector.pipeline")
    }
    assert {m: found for m, found in offenders.items() if found} == {}


def test_the_checks_see_a_violation():
    """The pipeline imports torch and train imports finetune inside a function: the
    same reading that passes inference finds those."""
    assert "torch" in imports("ai_detector.pipeline.train")
    assert "ai_detector.pipeline.finetune" in imports("ai_detector.pipeline.train")


def test_importing_the_inference_part_loads_no_torch():
    code = f"""
import importlib, json, sys
from ai_detector import Predictor
for name in {INFERENCE!r}:
    importlib.import_module(name)
loaded = sorted(n for n in sys.modules if n.split(".")[0] in {HEAVY!r}
                or n.startswith(("ai_detector.pipeline", "ai_detector.serving.torchserve")))
print(json.dumps([Predictor.__name__, loaded]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    name, loaded = json.loads(done.stdout.splitlines()[-1])
    assert name == "Predictor"
    assert loaded == []
