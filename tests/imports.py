"""Static import analysis of src/ai_detector (and of the tools beside it: bench, loadtest,
harness), for the tests of the layout and of dvc.yaml.

Reads the source with :mod:`ast` (nothing is imported), so it sees imports inside
functions too, which a look at ``sys.modules`` after an import would miss.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# Packages at the repository root, run as `python -m bench.run` and the like.
TOOLS = ("bench", "loadtest", "harness")


def _root(name: str) -> Path:
    return SRC if name.split(".", maxsplit=1)[0] == "ai_detector" else ROOT


def all_modules(package: str = "ai_detector") -> list[str]:
    """Every module below a package (``ai_detector`` or one of TOOLS), by dotted name."""
    base = _root(package)
    root = base.joinpath(*package.split("."))
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(base).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def module_file(name: str) -> Path | None:
    base = _root(name).joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imports(name: str) -> set[str]:
    """Every name one module imports (anywhere in it, function-level imports too), with
    ``from a import b`` giving both ``a`` and ``a.b``."""
    path = module_file(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return found


def imported_modules(name: str, packages: tuple[str, ...] = ("ai_detector",)) -> set[str]:
    """The modules of ``packages`` one module imports, resolved to ones that exist."""
    resolved = set()
    for imported in imports(name):
        if imported.split(".")[0] not in packages:
            continue
        module = imported  # `from package import name`: name may be a module or not
        while module and module_file(module) is None:
            module = module.rpartition(".")[0]
        if module:
            resolved.add(module)
    return resolved


def closure(name: str) -> set[str]:
    """The module, everything it imports transitively, and their parent packages."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += imported_modules(module)
    return seen
