"""The four parts and their one-way dependencies (docs/architecture.md draws them).

- inference imports nothing of pipeline, serving or apps, and never torch (or timm);
- nothing outside pipeline imports pipeline;
- importing the whole inference part, or ``from ai_detector import Predictor``, leaves
  torch out of the process (checked in a fresh interpreter, so nothing this test run
  imported before can hide it);
- apps talk to serving over REST: of ai_detector they import inference and the shared
  names (``ai_detector.contract``), never serving or pipeline;
- the archive builder lives in serving (``serving.archive``); nothing imports it from
  the pipeline, whose ``package`` stage only calls it;
- neither src/ nor the tools (bench, loadtest, harness) import the tests;
- the ai_detector modules import each other without cycles;
- there is one load generator (``harness.loadgen``), and bench and loadtest both use it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.imports import TOOLS, all_modules, imported_modules, imports, module_file

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
    """The pipeline imports torch and prepare imports the reconstruction inside a
    function: the same reading that passes inference finds those."""
    assert "torch" in imports("ai_detector.pipeline.train")
    assert "ai_detector.pipeline.data.reconstruct" in imports("ai_detector.pipeline.prepare")


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


APPS = all_modules("ai_detector.apps")
TOOL_MODULES = [m for tool in TOOLS for m in all_modules(tool)]
ARCHIVE_BUILDER = "ai_detector.serving.archive"
LOADGEN = "harness.loadgen"


@pytest.mark.parametrize("module", APPS)
def test_apps_import_inference_and_the_shared_names_only(module):
    allowed = ("ai_detector.apps", "ai_detector.inference", "ai_detector.contract")
    outward = sorted(m for m in imported_modules(module) if not m.startswith(allowed))
    assert outward == [], f"{module} imports {outward}: apps reach serving over REST"


def defined_functions(module: str) -> set[str]:
    path = module_file(module)
    assert path is not None, module
    tree = ast.parse(path.read_text())
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {node.name for node in ast.walk(tree) if isinstance(node, functions)}


def test_the_archive_builder_lives_in_serving_and_nobody_imports_it_from_the_pipeline():
    builders = {"build_archive", "run_archiver"}
    everywhere = all_modules() + TOOL_MODULES
    assert [m for m in everywhere if defined_functions(m) & builders] == [ARCHIVE_BUILDER]
    users = {m for m in everywhere if "ai_detector.pipeline.package" in imported_modules(m)}
    assert users == set(), f"{sorted(users)} import the package stage: use {ARCHIVE_BUILDER}"


@pytest.mark.parametrize("module", all_modules() + TOOL_MODULES)
def test_src_and_the_tools_never_import_the_tests(module):
    found = sorted(name for name in imports(module) if name.split(".")[0] == "tests")
    assert found == [], f"{module} imports {found}: shared helpers belong in harness/"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing
    itself): every import cycle, each as a sorted list (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_ai_detector_modules_import_each_other_without_cycles():
    """Function-level imports count: one inside a ``main`` is a cycle all the same."""
    graph = {m: imported_modules(m) - {m} for m in all_modules()}
    assert cycles(graph) == []


def test_the_cycle_check_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]


def test_there_is_one_load_generator_and_bench_and_loadtest_share_it():
    loops = {"open_loop", "closed_loop", "saturated_rate"}
    generators = [m for m in TOOL_MODULES + all_modules() if defined_functions(m) & loops]
    assert generators == [LOADGEN]
    users = {m.split(".")[0] for m in TOOL_MODULES if LOADGEN in imported_modules(m, TOOLS)}
    assert {"bench", "loadtest"} <= users
