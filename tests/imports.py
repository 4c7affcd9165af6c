"""Static import analysis of src/ai_detector, for the tests of the layout and of dvc.yaml.

Reads the source with :mod:`ast` (nothing is imported), so it sees imports inside
functions too, which a look at ``sys.modules`` after an import would miss.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def all_modules(package: str = "ai_detector") -> list[str]:
    """Every module below a package, by dotted name."""
    root = SRC.joinpath(*package.split("."))
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
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


def imported_modules(name: str) -> set[str]:
    """The ai_detector modules one module imports, resolved to ones that exist."""
    resolved = set()
    for imported in imports(name):
        if imported.split(".")[0] != "ai_detector":
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
