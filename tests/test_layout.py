"""The package's floors import one way, down the data flow, and no two modules import each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "midigen"
# Lowest first: a module may import its own floor's modules and those of lower floors.
FLOORS = ["errors", "fileio", "workers", "midi", "tokens", "data", "model", "views", "cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """midigen modules this file imports at run time, deferred imports included.

    Imports under ``if TYPE_CHECKING:`` only name types, so they do not count.
    """
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[: len(package) - node.level + 1])
            target = f"{base}.{node.module}" if node.module else base
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name in MODULE_NAMES and name != "midigen"}


def floor_of(module: str) -> int:
    parts = module.split(".")
    return FLOORS.index(parts[1]) if len(parts) > 1 and parts[1] in FLOORS else len(FLOORS)


MODULE_NAMES = {module_name(path) for path in PACKAGE.rglob("*.py")}
MODULES = {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_no_floor_imports_a_higher_one():
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in MODULES.items()
        for target in targets
        if module != "midigen" and floor_of(target) > floor_of(module)
    )
    assert upward == []


def test_no_two_modules_import_each_other():
    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in MODULES.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    circles = sorted(module for module in MODULES if module in reachable(module))
    assert circles == []
