"""The folders follow the dependency order, read from every import of the source (lazy ones too).

    contract  (names and limits; imports nothing of ours)
      <- ops, client
      <- serving (launcher), export (builder, repository, engine), rollout (the migration facade)
      <- tools (compare, perf, demo)
      <- cli

The model repository's ``model.py`` files see ``contract`` and ``ops`` only (the server image holds
nothing else of ours that imports). Benchmarks may import the package; the package and the tests
never import benchmarks, and a test module never imports another test module (shared helpers live
in ``tests/*.py`` support modules).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "yolo26_triton"
SOURCES = (ROOT / "src" / PACKAGE, ROOT / "client" / "src" / PACKAGE)
ALLOWED: dict[str, set[str]] = {
    "contract": set(),
    "ops": {"contract"},
    "client": {"contract"},
    "serving": {"contract"},
    "export": {"contract", "ops"},
    "rollout": {"contract", "ops", "client"},
    "tools": {"contract", "ops", "client", "serving", "export", "rollout"},
    "cli": {"contract", "ops", "client", "serving", "export", "rollout", "tools"},
}
"""Each layer of the package and the layers it may import (besides itself)."""


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = [PACKAGE, *path.relative_to(_source_of(path)).with_suffix("").parts]
    package = parts[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module:
                names.add(node.module)
    return names


def _source_of(path: Path) -> Path:
    return next(source for source in SOURCES if source in path.parents)


def layer_of(module: str) -> str | None:
    """``ops`` for ``yolo26_triton.ops.detections``; None outside the package."""
    parts = module.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else None


def package_files() -> list[Path]:
    return sorted(path for source in SOURCES for path in source.rglob("*.py"))


def test_every_module_belongs_to_a_layer() -> None:
    layers = {path.relative_to(_source_of(path)).parts[0].removesuffix(".py") for path in package_files()}
    assert layers == set(ALLOWED)


@pytest.mark.parametrize(
    "path", package_files(), ids=lambda path: str(path.relative_to(ROOT)).replace("/", ".")
)
def test_a_module_imports_only_lower_layers(path: Path) -> None:
    layer = path.relative_to(_source_of(path)).parts[0].removesuffix(".py")
    imported = {layer_of(name) for name in imported_modules(path)} - {None, layer}
    assert imported <= ALLOWED[layer], f"{layer} imports {sorted(imported - ALLOWED[layer])}"
    assert not any(name.split(".")[0] == "benchmarks" for name in imported_modules(path))


@pytest.mark.parametrize(
    "path", sorted((ROOT / "model_repository").rglob("*.py")), ids=lambda p: p.parent.parent.name
)
def test_model_files_import_only_the_contract_and_ops(path: Path) -> None:
    names = {name for name in _absolute_imports(path) if name.split(".")[0] == PACKAGE}
    assert {layer_of(name) for name in names} <= {"contract", "ops"}, sorted(names)


def _absolute_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


TEST_FILES = sorted((ROOT / "tests").rglob("*.py"))


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_tests_import_neither_benchmarks_nor_other_test_modules(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            assert module.split(".")[0] != "benchmarks", f"imports {module}"
            assert not module.split(".")[-1].startswith("test_"), f"imports the test module {module}"
            assert not any(alias.name.startswith("test_") for alias in node.names), "imports a test module"
        elif isinstance(node, ast.Import):
            assert not any(alias.name.split(".")[0] == "benchmarks" for alias in node.names)
